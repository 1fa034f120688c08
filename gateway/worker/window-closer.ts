/**
 * Closing event-time windows. Each hunt's windows are aligned, [k*L, (k+1)*L), L from
 * its rules (default 60 s). A window closes when the frontier, the lowest watermark of
 * the active servers, has passed its end plus the grace: by then every event with a time
 * in it has been ingested, so folding it gives the same prizes whatever the batching,
 * sharding, arrival order or worker count.
 *
 * Any number of workers may run this at once, with no lock: each computes the same
 * window from the same pending events and state, and lua/commit-window.lua lets only
 * the first commit through (compare-and-set on the hunt's `closed`).
 *
 * Late events (a documented rule, #5): an event whose window has already closed is
 * never folded, because the prizes of that window may already be granted and results
 * must not depend on timing. It is counted, logged and kept, by id, in the hunt's late
 * set. Ingest catches most (t < closed); the few that slip into pending while a commit
 * runs are found at the next close and moved there.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../protocol/log.js';
import { PRIZE_STREAM_RETENTION_MS, type RedisKeys } from '../redis-keys.js';
import { emptyHuntState, foldWindow, type DecidedPrize, type HuntState } from './hunt-fold.js';
import type { WorkerMetrics } from './metrics.js';
import { decodePendingEvent, eventId } from './pending-events.js';
import type { WorkerScripts } from './scripts.js';

export const DEFAULT_WINDOW_MS = 60_000;

export interface Frontier {
  /** the lowest watermark that holds windows back; undefined: nothing may close */
  wm: number | undefined;
  /** servers left out because they have been silent longer than the timeout */
  silent: string[];
}

/**
 * The lowest watermark over the servers in the registry (keys.servers(): server ->
 * current epoch). Undefined when there are no servers or one has no watermark yet:
 * nothing may close then. With `silentMs` > 0, a server from which no record has been
 * ingested for longer than that (Redis time) stops holding windows back (#5); its events
 * for windows closed meanwhile will be late. If every server is silent, all count.
 */
export async function readFrontier(redis: Redis, keys: RedisKeys, silentMs = 0): Promise<Frontier> {
  const servers = await redis.hgetall(keys.servers());
  const entries = Object.entries(servers).sort(([a], [b]) => (a < b ? -1 : 1));
  if (!entries.length) return { wm: undefined, silent: [] };
  const p = redis.pipeline();
  p.time();
  for (const [server, epoch] of entries) p.hmget(keys.watermark(server, Number(epoch)), 'wm', 'at');
  const res = (await p.exec()) ?? [];
  for (const [err] of res) if (err) throw err;
  const [sec, usec] = res[0]![1] as [string, string];
  const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  const all = entries.map(([server], i) => {
    const [wm, at] = res[i + 1]![1] as [string | null, string | null];
    return { server, wm: wm === null ? undefined : Number(wm), silent: silentMs > 0 && at !== null && now - Number(at) > silentMs };
  });
  const silent = all.filter((x) => x.silent).map((x) => x.server);
  const holding = silent.length === all.length ? all : all.filter((x) => !x.silent);
  let min = Infinity;
  for (const x of holding) {
    if (x.wm === undefined) return { wm: undefined, silent };
    min = Math.min(min, x.wm);
  }
  return { wm: Number.isFinite(min) ? min : undefined, silent };
}

export interface CommitArgs {
  hunt: string;
  /** the window start, or undefined for the hunt's first window (closed must be missing) */
  expected: number | undefined;
  start: number;
  end: number;
  state: HuntState;
  prizes: DecidedPrize[];
  /** pending members folded in this window */
  folded: string[];
  /** pending members of already-closed windows: removed and marked late */
  late: { member: string; id: string }[];
}

export type CommitStatus = 'committed' | 'stale' | 'servers-changed';

/** Runs lua/commit-window.lua once; see its header for the contract. */
export async function commitWindow(redis: Redis, keys: RedisKeys, scripts: WorkerScripts, a: CommitArgs): Promise<{ status: CommitStatus; newPrizes: number }> {
  const servers = new Set(await redis.hkeys(keys.servers()));
  for (const p of a.prizes) servers.add(p.server);
  const list = [...servers].sort();
  const index = new Map(list.map((s, i) => [s, i + 1]));
  const k = [keys.closed(a.hunt), keys.state(a.hunt), keys.prizes(a.hunt), keys.pending(a.hunt), keys.late(a.hunt), keys.servers(), ...list.map((s) => keys.prizeStream(s))];
  const argv: (string | number)[] = [
    a.expected === undefined ? '' : String(a.expected),
    a.hunt,
    String(a.start),
    String(a.end),
    JSON.stringify(a.state),
    PRIZE_STREAM_RETENTION_MS,
    list.length,
    ...list,
    a.prizes.length,
  ];
  for (const p of a.prizes) argv.push(p.reason, JSON.stringify(p), index.get(p.server)!, p.player, p.item, p.count);
  argv.push(a.folded.length, ...a.folded, a.late.length);
  for (const l of a.late) argv.push(l.member, l.id);
  const [status, newPrizes] = (await scripts.commitWindow.run(redis, k, argv)) as [number, number];
  return { status: status === 1 ? 'committed' : status === 0 ? 'stale' : 'servers-changed', newPrizes };
}

export interface CloserContext {
  redis: Redis;
  keys: RedisKeys;
  scripts: WorkerScripts;
  metrics: WorkerMetrics;
  log: Logger;
  graceMs: number;
  /** 0: a server holds windows back however long it is silent */
  silentServerMs: number;
}

/** How many registry changes in a row one window commit tolerates before giving up until the next pass. */
const MAX_COMMIT_RETRIES = 5;

export class WindowCloser {
  private running: Promise<void> | undefined;
  private again = false;
  private silent = new Set<string>();

  constructor(private readonly ctx: CloserContext) {}

  /** Closes every window that is ready; concurrent calls coalesce into one more pass. */
  async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Resolves when no pass is running. */
  async idle(): Promise<void> {
    while (this.running) await this.running.catch(() => {});
  }

  private async pass(): Promise<void> {
    const { redis, keys } = this.ctx;
    const f = await readFrontier(redis, keys, this.ctx.silentServerMs);
    const now = new Set(f.silent);
    for (const s of now) if (!this.silent.has(s)) this.ctx.log.warn({ server: s, silentMs: this.ctx.silentServerMs }, 'server silent past the timeout: it no longer holds windows back; its events for windows closed meanwhile will be late');
    for (const s of this.silent) if (!now.has(s)) this.ctx.log.info({ server: s }, 'silent server is back');
    this.silent = now;
    const frontier = f.wm;
    if (frontier === undefined) return;
    const hunts = (await redis.smembers(keys.hunts())).sort();
    for (const hunt of hunts) await this.closeHunt(hunt, frontier);
  }

  private async closeHunt(hunt: string, frontier: number): Promise<void> {
    const { redis, keys, scripts, metrics, log } = this.ctx;
    const limit = frontier - this.ctx.graceMs;
    const rawL = Number(await redis.get(keys.window(hunt)));
    const L = Number.isSafeInteger(rawL) && rawL > 0 ? rawL : DEFAULT_WINDOW_MS;
    let retries = 0;
    for (;;) {
      const snap = await redis.multi().get(keys.closed(hunt)).get(keys.state(hunt)).exec();
      const closedRaw = (snap?.[0]?.[1] ?? null) as string | null;
      const stateRaw = (snap?.[1]?.[1] ?? null) as string | null;
      let start: number;
      if (closedRaw === null) {
        const first = await redis.zrange(keys.pending(hunt), 0, '0', 'WITHSCORES');
        if (first[1] === undefined) return;
        start = Math.floor(Number(first[1]) / L) * L;
      } else {
        start = Number(closedRaw);
      }
      metrics.windowsBehind(hunt, Math.max(0, Math.floor((limit - start) / L)));
      if (start + L > limit) return;

      const began = performance.now();
      const raw = await redis.zrangebyscore(keys.pending(hunt), '-inf', `(${start + L}`, 'WITHSCORES');
      const folded: string[] = [];
      const late: { member: string; id: string }[] = [];
      const events = [];
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const member = raw[i]!;
        const t = Number(raw[i + 1]);
        let ev;
        try {
          ev = decodePendingEvent(member);
        } catch (err) {
          // Cannot come from ingest (it encodes what it validated); drop it rather than wedge the hunt.
          log.error({ hunt, member: member.slice(0, 200), err: (err as Error).message }, 'undecodable pending event dropped');
          metrics.badEvent();
          folded.push(member);
          continue;
        }
        if (t < start) {
          late.push({ member, id: eventId(ev) });
          continue;
        }
        folded.push(member);
        events.push(ev);
      }
      let end = start + L;
      if (!events.length) {
        // Nothing in this window: close the run of empty windows up to the next pending event at once.
        const next = await redis.zrangebyscore(keys.pending(hunt), String(start + L), '+inf', 'WITHSCORES', 'LIMIT', 0, 1);
        const lastReady = Math.floor(limit / L) * L;
        end = next[1] === undefined ? lastReady : Math.min(lastReady, Math.floor(Number(next[1]) / L) * L);
        end = Math.max(end, start + L);
      }
      const state: HuntState = stateRaw ? (JSON.parse(stateRaw) as HuntState) : emptyHuntState(hunt);
      const prizes = foldWindow(state, events);
      const res = await commitWindow(redis, keys, scripts, {
        hunt, expected: closedRaw === null ? undefined : start, start, end, state, prizes, folded, late,
      });
      if (res.status === 'committed') {
        retries = 0;
        metrics.windowClosed((performance.now() - began) / 1000, res.newPrizes);
        if (late.length) {
          metrics.lateEvents(late.length);
          log.warn({ hunt, ids: late.map((l) => l.id), closed: start }, 'late events found pending for a closed window: not folded');
        }
        log.debug({ hunt, start, end, events: events.length, prizes: prizes.length, newPrizes: res.newPrizes }, 'window closed');
      } else if (res.status === 'stale') {
        metrics.staleCommit();
        log.debug({ hunt, start }, 'window already closed by another worker');
      } else if (++retries > MAX_COMMIT_RETRIES) {
        log.warn({ hunt, start }, 'server registry keeps changing during commit; retrying on the next pass');
        return;
      }
    }
  }
}

/** Every prize decided for a hunt, sorted by reason. */
export async function readDecidedPrizes(redis: Redis, keys: RedisKeys, hunt: string): Promise<DecidedPrize[]> {
  const all = await redis.hvals(keys.prizes(hunt));
  return all.map((j) => JSON.parse(j) as DecidedPrize).sort((a, b) => (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
}
