/**
 * `cairn replay`: runs the whole pipeline over a trace — one plugin instance per server
 * in the trace, each with its own WebSocket link — on the trace's time, and reports the
 * prizes. Time advances window by window: the driver feeds every sample up to a window's
 * end plus the grace, lets every plugin send its watermark, and waits until every plugin
 * has the window-closed entry (so its prizes are granted) before feeding further. So a
 * prize is granted or held exactly as live play would: with the players online at the
 * moment its window closes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { windowMs, type HuntRules } from '../protocol/index.js';
import { MAX_BATCH_EVENTS } from '../protocol/limits.js';
import { logger } from '../common/log.js';
import { raceTimeout, TIMED_OUT } from '../common/async.js';
import { CairnPlugin, type LinkTuning, type PrizeView } from '../plugin/cairn-plugin.js';
import { ReplayHost } from '../plugin/hosts/replay-host.js';
import { gatewayUrls } from '../plugin/link.js';
import { readTraceChunks, summarizeTrace, type TraceSummary } from '../plugin/hosts/trace.js';
import { validatedLines, type ValidatedTrace } from '../plugin/hosts/trace-segments.js';

const log = logger('replay');

/**
 * A replayed plugin's batches hold up to MAX_BATCH_EVENTS, not the live default of 500: a
 * replay flushes a server's whole flush interval at once (500 players give ~505 events), which
 * at 500 made two batches of every flush, one of them a few events. Every batch costs the back
 * end the same (a frame, a user record, three ingest scripts, an ack) whatever it holds; the
 * prizes do not depend on the batching (docs/guarantees.md). `--batch-events` still sets it.
 */
export const REPLAY_BATCH_MAX_EVENTS = MAX_BATCH_EVENTS;

/** A prize as the replay reports it: what the plugin that grants it recorded (DESIGN.md "Replay"). */
export type ReplayPrize = PrizeView;

export interface ReplayOptions {
  hunts: HuntRules[];
  traceFile: string;
  /** the trace's summary when the caller already validated it */
  summary?: TraceSummary;
  /**
   * The trace as the validating pass kept it (plugin/hosts/trace-segments.ts): its summary,
   * and its lines, which the replay then takes instead of reading `traceFile` again.
   */
  trace?: ValidatedTrace;
  /**
   * The gateway, or several (a list or comma-separated): server k of the trace starts on
   * gateway k mod n and moves on through the others in turn when its gateway is down.
   */
  gatewayUrl: string | readonly string[];
  token: string;
  graceMs: number;
  flushIntervalMs?: number;
  batchMaxEvents?: number;
  /** how long to wait for one window to close before giving up */
  windowTimeoutMs?: number;
  /** Called after each window closes; the replay goes on once what it returns settles (a test reshards the stream here). */
  onProgress?: (p: { t: number; lines: number; windows: number }) => unknown;
  /** Each plugin's link tuning (a fault test shortens the ping period to notice a dead peer sooner). */
  link?: LinkTuning;
  /** Sees each server's host as it is made: a test counts what the game gave (ReplayHost.given). */
  onHost?: (host: ReplayHost) => void;
}

export interface ReplayStats {
  servers: number;
  traceLines: number;
  samples: number;
  traceSpanMs: number;
  windowsClosed: number;
  batchesSent: number;
  deltasSent: number;
  eventsSent: number;
  bytesSent: number;
  prizesGranted: number;
  prizesPending: number;
  durationMs: number;
  eventsPerSec: number;
}

export interface ReplayResult {
  prizes: ReplayPrize[];
  stats: ReplayStats;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  const r = await raceTimeout(p, ms);
  if (r === TIMED_OUT) throw new Error(what());
  return r;
}

export async function replay(opts: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const summary = opts.trace?.summary ?? opts.summary ?? (await summarizeTrace(opts.traceFile));
  const flushMs = opts.flushIntervalMs ?? 250;
  const windowTimeout = opts.windowTimeoutMs ?? 60_000;
  const hunts = opts.hunts.map((h) => ({ id: h.id, len: windowMs(h) }));
  const urls = gatewayUrls(opts.gatewayUrl);
  const dataRoot = mkdtempSync(join(tmpdir(), 'cairn-replay-'));
  const hosts = new Map<string, ReplayHost>();
  const plugins = new Map<string, CairnPlugin>();
  try {
    for (const [k, server] of summary.servers.entries()) {
      const host = new ReplayHost(server, summary.firstT);
      const first = k % urls.length;
      hosts.set(server, host);
      opts.onHost?.(host);
      const plugin = await CairnPlugin.start({
        host,
        hunts: opts.hunts,
        dataDir: join(dataRoot, server),
        gatewayUrl: [...urls.slice(first), ...urls.slice(0, first)],
        token: opts.token,
        autoFlush: false,
        flushIntervalMs: flushMs,
        batchMaxEvents: opts.batchMaxEvents ?? REPLAY_BATCH_MAX_EVENTS,
        ...(opts.link ? { link: opts.link } : {}),
      });
      plugins.set(server, plugin);
    }
    log.info({ servers: summary.servers, gateways: urls, lines: summary.lines, spanMs: summary.lastT - summary.firstT }, 'replaying');

    const allPlugins = [...plugins.values()];
    const allHosts = [...hosts.values()];
    let windowsClosed = 0;
    // The next window end (over all hunts) that the driver has not yet waited for.
    const nextEndAfter = (t: number) => Math.min(...hunts.map((h) => (Math.floor(t / h.len) + 1) * h.len));
    let barrier = nextEndAfter(summary.firstT);

    const closeBarrier = async (end: number) => {
      const wm = end + opts.graceMs;
      for (const h of allHosts) h.setTime(wm);
      for (const p of allPlugins) p.flush({ force: true });
      const due = hunts.filter((h) => end % h.len === 0);
      await withTimeout(
        Promise.all(allPlugins.flatMap((p) => due.map((h) => p.waitClosed(h.id, end)))),
        windowTimeout,
        () =>
          `window ending ${new Date(end).toISOString()} did not close within ${windowTimeout} ms ` +
          `(closed through: ${allPlugins.map((p) => `${p.serverId}=${due.map((h) => p.closedThrough(h.id) ?? 'none').join('/')}`).join(', ')}); ` +
          'is a worker running against the same Redis and stream?',
      );
      windowsClosed += due.length;
      await opts.onProgress?.({ t: end, lines, windows: windowsClosed });
    };

    let nextFlush = summary.firstT + flushMs;
    let lines = 0;
    let samples = 0;
    // The host and plugin of the previous line: consecutive lines are mostly one server's.
    let server = '';
    let host: ReplayHost | undefined;
    let plugin: CairnPlugin | undefined;
    for await (const chunk of opts.trace ? validatedLines(opts.trace) : readTraceChunks(opts.traceFile)) {
      for (const line of chunk) {
        while (line.t > barrier + opts.graceMs) {
          await closeBarrier(barrier);
          barrier = nextEndAfter(barrier);
        }
        if (line.t > nextFlush) {
          // One flush per crossed interval boundary, on trace time (idle gaps cost nothing);
          // strictly after it, so every sample with t <= the watermark is in.
          for (const h of allHosts) h.setTime(nextFlush);
          for (const p of allPlugins) p.flush();
          nextFlush = (Math.floor(line.t / flushMs) + 1) * flushMs;
        }
        if (line.server !== server) {
          server = line.server;
          host = hosts.get(server)!;
          plugin = plugins.get(server)!;
        }
        plugin!.accept(host!.apply(line));
        lines++;
        if (line.type === 'move') samples++;
        if ((lines & 1023) === 0) await Promise.all(allPlugins.map((p) => p.waitForCapacity()));
      }
    }
    // Close every window up to and including the one holding the trace's last moment.
    const lastEnd = Math.max(...hunts.map((h) => (Math.floor(summary.lastT / h.len) + 1) * h.len));
    while (barrier <= lastEnd) {
      await closeBarrier(barrier);
      barrier = nextEndAfter(barrier);
    }
    await Promise.all(allPlugins.map((p) => p.drain()));

    const prizes = allPlugins
      .flatMap((p) => p.prizes())
      .sort((a, b) => (a.hunt < b.hunt ? -1 : a.hunt > b.hunt ? 1 : a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
    const s = allPlugins.map((p) => p.stats());
    const sum = (k: keyof (typeof s)[number]) => s.reduce((acc, x) => acc + Number(x[k] ?? 0), 0);
    const durationMs = Math.round(performance.now() - started);
    const stats: ReplayStats = {
      servers: summary.servers.length,
      traceLines: lines,
      samples,
      traceSpanMs: summary.lastT - summary.firstT,
      windowsClosed,
      batchesSent: sum('batchesSent'),
      deltasSent: sum('deltasSent'),
      eventsSent: sum('eventsSent'),
      bytesSent: sum('bytesSent'),
      prizesGranted: prizes.filter((p) => p.status === 'granted').length,
      prizesPending: prizes.filter((p) => p.status === 'pending').length,
      durationMs,
      eventsPerSec: Math.round(lines / (durationMs / 1000)),
    };
    return { prizes, stats };
  } finally {
    await Promise.all([...plugins.values()].map((p) => p.stop(5000).catch(() => {})));
    rmSync(dataRoot, { recursive: true, force: true });
  }
}
