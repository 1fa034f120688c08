/**
 * The plugin: what runs inside a game server. The host feeds raw samples in with `accept`
 * (sample-intake.ts); the plugin turns them into discrete events and coalesced deltas,
 * forms batches at each flush and ships them over the link (shipper.ts, in slices on the
 * timer; past the outbox bound through the spill file, spill/). Prizes coming back are
 * granted exactly once through the ledger, in group commits (prize-queue.ts). This class
 * wires those parts together and is the face a host sees.
 *
 * The data folder holds the epoch, the prize ledger and the spill file; stop() leaves the
 * spill file holding everything not acked, for the next start to send again.
 *
 * Events: 'window-closed' ({ hunt, start, end }), 'prize' ({ ...prize, outcome }),
 * 'error' (CairnError: the gateway refuses this server; emitted only when someone listens,
 * since an unhandled 'error' would crash the game server; it is logged either way).
 */
import { EventEmitter } from 'node:events';
import { CairnError, ErrorCode, type Prize, type PrizeView, type WindowClosed } from '../protocol/index.js';
import { raceTimeout, TIMED_OUT } from '../common/async.js';
import { logger } from '../common/log.js';
import type { Host, Sample } from './host.js';
import type { PluginStats } from './metrics.js';
import { resolveOptions, type PluginOptions } from './plugin-options.js';
import { assemble, refreshStats, type PluginParts } from './plugin-parts.js';
import { stopOnSignals } from './shutdown.js';
import { TraceRecorder } from './trace-recorder.js';
import type { StopReport } from './spill/spillway.js';

export type { PluginStats } from './metrics.js';
export type { LinkTuning, PluginOptions } from './plugin-options.js';
export { MAX_PRIZE_GROUP, type WindowClosedInfo } from './prize-queue.js';
export type { StopReport } from './spill/spillway.js';
export type { PrizeView } from '../protocol/index.js';

const log = logger('plugin');

/** How long stop() waits for a prize append in progress (an fsync on a slow disk). */
const PRIZE_QUEUE_STOP_MS = 10_000;

export class CairnPlugin extends EventEmitter {
  readonly serverId: string;
  readonly epoch: number;
  private readonly host: Host;
  private readonly p: PluginParts;
  private timer: NodeJS.Timeout | undefined;
  private stopping: Promise<StopReport> | undefined;
  private signals: { remove(): void } | undefined;
  private stopped = false;
  private recorder: TraceRecorder | undefined;

  /** Bumps the epoch, opens the ledger, connects, and resolves once the gateway welcomed the link. */
  static async start(options: PluginOptions): Promise<CairnPlugin> {
    const opts = resolveOptions(options);
    // The parts call back into the plugin only once it exists: nothing runs before link.start() below.
    let plugin!: CairnPlugin;
    const parts = await assemble(opts, {
      now: () => plugin.now(),
      emit: (event, arg) => plugin.emitSafely(event, arg),
      flushed: () => plugin.syncMetrics(),
      stats: () => plugin.stats(),
    });
    plugin = new CairnPlugin(opts.host, parts);
    if (opts.recordTrace) plugin.recorder = new TraceRecorder(opts.host, { file: opts.recordTrace.file, maxBytes: opts.recordTrace.maxBytes ?? 64 * 1024 * 1024, keep: opts.recordTrace.keep ?? 3 });
    const { catalog, intake, link, spill, ledger, prizeQueue } = parts;
    // Players already online (a plugin restarted inside a running game) get what is held for
    // them now rather than at their next join: prizes held before, and grants a crash
    // interrupted that an idempotent host gives again.
    for (const player of ledger.playersWithHeld()) prizeQueue.push({ k: 'join', player });
    const serverId = plugin.serverId;
    const epoch = plugin.epoch;
    const t = opts.host.now();
    for (const { rules, hash } of catalog.all()) intake.queueEvent({ k: 'rules', t, hunt: rules.id, rules, hash });
    log.info({ server: serverId, epoch, hunts: catalog.ids(), gateway: opts.gatewayUrl, dataDir: opts.dataDir, spilledFromBefore: spill.unreadEvents }, 'plugin starting');
    link.start();
    try {
      await link.firstWelcome();
    } catch (err) {
      await plugin.stop(0).catch(() => undefined);
      throw err;
    }
    if (opts.autoFlush) plugin.timer = setInterval(() => plugin.flushSliced(), opts.flushIntervalMs);
    if (opts.stopOnSignals) {
      const timeoutMs = typeof opts.stopOnSignals === 'object' ? opts.stopOnSignals.timeoutMs : undefined;
      plugin.signals = stopOnSignals(serverId, () => plugin.stop(timeoutMs));
    }
    return plugin;
  }

  private constructor(host: Host, parts: PluginParts) {
    super();
    this.serverId = host.serverId;
    this.epoch = parts.epoch;
    this.host = host;
    this.p = parts;
    const { link, shipper, prizeQueue } = parts;
    // Acks make room in the outbox: send on from the spill file.
    link.on('ack', () => shipper.pumpSpill());
    link.on('welcome', () => shipper.pumpSpill());
    link.on('prize', (p: Prize) => prizeQueue.push({ k: 'prize', p }));
    link.on('window-closed', (w: WindowClosed) => prizeQueue.push({ k: 'window-closed', w }));
    link.on('error', (err: CairnError) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /** Feeds one raw sample in. O(1); never throws: a bad sample is logged and counted. */
  accept(sample: Sample): void {
    if (this.stopped) return;
    const rec = this.recorder;
    if (!rec) {
      this.p.intake.accept(sample);
      return;
    }
    // Only samples the intake accepted are recorded: the recording must replay cleanly.
    const bad = this.p.s.badSamples;
    this.p.intake.accept(sample);
    if (this.p.s.badSamples === bad) rec.record(sample);
  }

  /**
   * Forms batches from the discrete events since the last flush and the coalescer's deltas,
   * with watermark host.now(), and sends them, all at once (a split flush under way is
   * completed first). Without events, a batch (a heartbeat) is formed only when `force` is
   * set or heartbeatMs passed since the last one, and only if the watermark advanced. Under
   * backpressure (outbox over its bound) deltas stay in the coalescer, which keeps only the
   * latest state per player, and discrete events go to the spill file.
   */
  flush(opts: { force?: boolean } = {}): void {
    if (this.stopped) return;
    const now = this.now();
    if (now === undefined) return;
    this.p.shipper.flushNow(now, opts.force ?? false);
  }

  /**
   * The timer's flush: the same as flush(), split into slices of at most flushSliceEvents
   * events on successive event-loop turns (the first runs now).
   */
  flushSliced(): void {
    if (!this.stopped) this.p.shipper.flushSliced();
  }

  /** True while a split flush (flushSliced) is under way. */
  get flushing(): boolean {
    return this.p.shipper.flushing;
  }

  /** Resolves when every batch formed so far is acked and the spill file was sent to its end. */
  drain(): Promise<void> {
    return this.p.shipper.drain();
  }

  /** Resolves at once unless the outbox is over its bound; then when it is back under it. */
  waitForCapacity(): Promise<void> {
    return this.p.outbox.waitForCapacity();
  }

  /** The largest `end` of the WindowClosed messages received for `hunt`. */
  closedThrough(hunt: string): number | undefined {
    return this.p.windows.closedThrough(hunt);
  }

  /** Resolves when closedThrough(hunt) >= end; rejects if the plugin stops first. */
  waitClosed(hunt: string, end: number): Promise<void> {
    return this.p.windows.wait(hunt, end);
  }

  /** Every prize in the ledger: granted, or held for an offline player ('pending'). */
  prizes(): PrizeView[] {
    return this.p.ledger.views();
  }

  stats(): PluginStats {
    refreshStats(this.p);
    return { ...this.p.s };
  }

  /**
   * Final flush, waits up to `timeoutMs` for acks (and prizes in progress), closes the link
   * and the ledger, and leaves every discrete event not acked in the spill file, which the
   * next start sends again; resolves with what was left.
   */
  stop(timeoutMs = 5000): Promise<StopReport> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<StopReport> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.signals?.remove();
    this.signals = undefined;
    if (!this.stopped) this.flush({ force: true });
    this.stopped = true;
    const drained = this.p.shipper.drain().then(
      () => true,
      () => false,
    );
    const outcome = await raceTimeout(drained, timeoutMs);
    this.p.shipper.cancel();
    await this.p.link.close();
    // No new prize work can arrive now; let a grant in progress finish its append, since
    // closing the ledger under it would lose the record of an item already given.
    const settled = await raceTimeout(this.p.prizeQueue.idle, Math.max(timeoutMs, PRIZE_QUEUE_STOP_MS));
    if (settled !== TIMED_OUT) await this.p.ledger.close();
    else log.error({ server: this.serverId, file: this.p.ledger.file }, 'a prize append did not finish while stopping; leaving the ledger open');
    const stopped = new CairnError(ErrorCode.Internal, `plugin ${this.serverId} stopped`);
    const report = this.p.shipper.spillway.leaveAtStop(outcome === true, { server: this.serverId, epoch: this.epoch });
    this.p.outbox.close(stopped);
    this.p.windows.close(stopped);
    this.syncMetrics();
    this.recorder?.close();
    return report;
  }

  /** A listener that throws must not keep the rest of a prize group from being reported. */
  private emitSafely(event: 'prize' | 'window-closed', arg: unknown): void {
    try {
      this.emit(event, arg);
    } catch (err) {
      log.error({ err, event, server: this.serverId }, 'a listener threw');
    }
  }

  /** The host's time, or undefined (logged) when it is not a finite number. */
  private now(): number | undefined {
    const now = this.host.now();
    if (Number.isFinite(now)) return now;
    log.error({ now }, 'host.now() is not a finite number; flush skipped');
    return undefined;
  }

  private syncMetrics(): void {
    this.recorder?.flush();
    refreshStats(this.p);
    this.p.metrics.sync(this.p.s);
  }
}
