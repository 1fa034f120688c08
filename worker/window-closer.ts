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
 * A window's commit has three steps, each resumable: the commit (state, prizes, and the
 * changed players' finds as one merge list), the fan-out of its prizes to the servers'
 * streams (window-fan-out.ts), and the merge of its finds into the player buckets
 * (window-merge.ts). A window counts as closed once its fan-out is done. The merge
 * follows MERGE_DELAY_MS later, in a later pass (any worker's), so the window's prizes are
 * delivered first; at once when the next window is due: a fan-out or a merge left by an
 * earlier pass or another worker is finished before the next window is read, and the
 * next commit is refused while a merge list is there.
 *
 * Late events (a documented rule, DESIGN.md): an event whose window has already closed is
 * never folded, because the prizes of that window may already be granted and results
 * must not depend on timing. It is counted, logged and kept, by id, in the hunt's late
 * set. Ingest catches most (t < closed); the few that slip into pending while a commit
 * runs are found at the next close and moved there.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { DEFAULT_WINDOW_MS } from '../protocol/index.js';
import type { Logger } from '../common/log.js';
import type { RedisKeys } from '../backend/redis/keys.js';
import { foldEvents, type DecidedPrize } from '../hunt/hunt-fold.js';
import { loadLegacyPlayers, loadPlayers, parseState } from '../hunt/hunt-store.js';
import { PlayerTable } from '../hunt/player-table.js';
import { findList, findListJson, type FindList } from '../hunt/find-list.js';
import { redisTimeMs } from '../backend/redis/time.js';
import type { WorkerMetrics } from './metrics.js';
import { readWindow } from './window-read.js';
import type { WorkerScripts } from './scripts.js';
import { BATCH_KEYS_TTL_MS } from './record-ingest.js';
import { commitWindow, type CommitStatus } from './window-commit.js';
import { fanOutWindows } from './window-fan-out.js';
import { mergeWindowFinds, type MergeOptions, type MergeResult } from './window-merge.js';
import { readFrontier } from './window-frontier.js';

/** What a commit hook is told about a window commit. */
export interface WindowInfo {
  hunt: string;
  start: number;
  end: number;
}

/**
 * Fault-injection points around each window commit, for tests (the seed-incident test
 * stops the process right before a commit). Not for production use.
 */
export interface CommitHooks {
  /** Called after the window was read and folded, right before its commit is sent. */
  beforeCommit?(w: WindowInfo): void | Promise<void>;
  /**
   * Called with the outcome of each commit attempt, and how long its steps took (ms),
   * after the commit and before its fan-out to the servers' prize streams.
   */
  afterCommit?(w: WindowInfo & { status: CommitStatus; newPrizes: number; ms: CloseTimings }): void;
  /** Called after a committed window's fan-out, before its finds are merged into the player buckets. */
  afterFanOut?(w: WindowInfo & { ms: CloseTimings }): void;
  /** Called after each chunk of player buckets a merge wrote (window-merge.ts), with the buckets written so far. */
  afterMergeChunk?(hunt: string, written: number, total: number): void;
  /** Buckets per merge script call instead of MERGE_CHUNK_BUCKETS: small, so a test can stop a merge midway. */
  mergeChunkBuckets?: number;
  /** Called after a window's finds were merged into the player buckets, with how long the merge took (ms). */
  afterMerge?(m: { hunt: string; end: number; finds: number; ms: number }): void;
}

/** Where a window close spends its time, in ms. */
export interface CloseTimings {
  /** pending events read and decoded */
  read: number;
  /** players' finds read */
  players: number;
  fold: number;
  /** the changed players' finds serialized (the merge list) */
  finds: number;
  /** commit arguments built, script run */
  commit: number;
  /** prizes and closed entries put on the servers' streams (window-fan-out.ts) */
  fanOut: number;
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
  hooks?: CommitHooks;
  /** How long after a commit its finds are merged when no next window needs them sooner (default MERGE_DELAY_MS). */
  mergeDelayMs?: number;
}

/**
 * How long a window's merge waits for the delivery of its prizes. In the window-close
 * benchmark the prizes of a window of 230 k finds were granted within 0.5 s, and a merge
 * started right after the fan-out (a second of CPU, 64 script calls) added 50-130 ms to
 * the 99th percentile of their delivery.
 */
export const MERGE_DELAY_MS = 1000;

/** How many retries in a row (registry or pending changed under the commit) before waiting for the next pass. */
const MAX_COMMIT_RETRIES = 5;

export class WindowCloser {
  private running: Promise<void> | undefined;
  private again = false;
  private silent = new Set<string>();
  /** server -> Redis time this closer first saw it registered without any watermark */
  private readonly noWatermarkSince = new Map<string, number>();
  /** server -> epoch last seen in the registry, to expire an epoch's keys once a newer one said hello */
  private readonly epochs = new Map<string, number>();
  private readonly id = randomBytes(6).toString('hex');
  private commits = 0;

  /** hunt -> the merge list this closer committed last, until merged */
  private readonly committed = new Map<string, { end: number; list: FindList }>();
  private readonly mergeDelayMs: number;

  constructor(private readonly ctx: CloserContext) {
    this.mergeDelayMs = ctx.mergeDelayMs ?? MERGE_DELAY_MS;
  }

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
          this.ctx.metrics.closePass();
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
    const seen = new Set<string>();
    const f = await readFrontier(redis, keys, this.ctx.silentServerMs, (server, now) => {
      seen.add(server);
      let since = this.noWatermarkSince.get(server);
      if (since === undefined) this.noWatermarkSince.set(server, (since = now));
      return since;
    });
    for (const s of this.noWatermarkSince.keys()) if (!seen.has(s)) this.noWatermarkSince.delete(s);
    await this.expireOldEpochs(f.epochs);
    const now = new Set(f.silent);
    for (const s of now) if (!this.silent.has(s)) this.ctx.log.warn({ server: s, silentMs: this.ctx.silentServerMs }, 'server silent past the timeout: it no longer holds windows back; its events for windows closed meanwhile will be late');
    for (const s of this.silent) if (!now.has(s)) this.ctx.log.info({ server: s }, 'silent server is back');
    this.silent = now;
    const frontier = f.wm;
    if (frontier === undefined) return;
    const hunts = (await redis.smembers(keys.hunts())).sort();
    for (const hunt of hunts) await this.closeHunt(hunt, frontier);
  }

  /**
   * Retention: a (server, epoch)'s watermark and batch keys are read only while that
   * epoch is the server's current one. Once a newer epoch said hello (the plugin restarted)
   * they get a TTL long enough for any record of the old epoch still in the stream
   * (BATCH_KEYS_TTL_MS). Only changes this closer sees are handled; keys of an epoch that
   * was replaced while no worker ran stay (they are small).
   */
  private async expireOldEpochs(now: Map<string, number>): Promise<void> {
    const { redis, keys } = this.ctx;
    const expiring: Promise<number>[] = [];
    for (const [server, epoch] of now) {
      const before = this.epochs.get(server);
      if (before !== undefined && before < epoch) {
        expiring.push(redis.pexpire(keys.watermark(server, before), BATCH_KEYS_TTL_MS), redis.pexpire(keys.batchDone(server, before), BATCH_KEYS_TTL_MS));
      }
      this.epochs.set(server, epoch);
    }
    for (const s of this.epochs.keys()) if (!now.has(s)) this.epochs.delete(s);
    await Promise.all(expiring);
  }

  /**
   * The frontier read at the start of the pass, again, after the window's pending events
   * were read. After a failover to a replica that lacked the last writes, a pass could
   * read the frontier on the old primary and the pending events on the new one, which
   * lacks some of them (and whose watermarks are behind as well): the commit's
   * compare-and-set on `closed` would pass there, deciding the window without those
   * events. Reading the frontier after the events, on the same connection (which only
   * ever moves on to the newer primary), sees the regressed watermarks in that case.
   * Returns the limit windows may close up to now.
   */
  private async freshLimit(): Promise<number> {
    const f = await readFrontier(this.ctx.redis, this.ctx.keys, this.ctx.silentServerMs, (server, now) => this.noWatermarkSince.get(server) ?? now);
    return f.wm === undefined ? -Infinity : f.wm - this.ctx.graceMs;
  }

  private async closeHunt(hunt: string, frontier: number): Promise<void> {
    const { redis, keys, scripts, metrics, log } = this.ctx;
    const limit = frontier - this.ctx.graceMs;
    const rawL = Number(await redis.get(keys.window(hunt)));
    const L = Number.isSafeInteger(rawL) && rawL > 0 ? rawL : DEFAULT_WINDOW_MS;
    let retries = 0;
    for (;;) {
      // What an earlier commit left to fan out (a worker died between the steps, or
      // another one is at it) goes first.
      await fanOutWindows(redis, keys, scripts, hunt);
      const snap = await redis.multi().get(keys.closed(hunt)).get(keys.state(hunt)).hmget(keys.merge(hunt), 'end', 'at').time().exec();
      const closedRaw = (snap?.[0]?.[1] ?? null) as string | null;
      const stateRaw = (snap?.[1]?.[1] ?? null) as string | null;
      const [mergeEnd, mergeAt] = (snap?.[2]?.[1] ?? [null, null]) as (string | null)[];
      const now = redisTimeMs(snap?.[3]?.[1] as [string, string]);
      let start: number;
      if (closedRaw === null) {
        const first = await redis.zrange(keys.pending(hunt), 0, '0', 'WITHSCORES');
        if (first[1] === undefined) return;
        start = Math.floor(Number(first[1]) / L) * L;
      } else {
        start = Number(closedRaw);
      }
      const ready = start + L <= limit;
      if (mergeEnd !== null && mergeEnd !== undefined) {
        // The last commit's finds wait for their merge (this worker's or another's). It is
        // due once the next window needs them, or a moment after that commit: the merge
        // would compete with the delivery of its prizes for the CPU and Redis.
        if (!ready && now - Number(mergeAt) < this.mergeDelayMs) return;
        await this.merge(hunt, Number(mergeEnd));
        continue;
      }
      metrics.windowsBehind(hunt, Math.max(0, Math.floor((limit - start) / L)));
      if (!ready) return;

      const began = performance.now();
      const { events, late, read, fresh } = await readWindow(redis, keys.pending(hunt), start, L, (member, err) => {
        // Cannot come from ingest (it encodes what it validated); drop it rather than wedge the hunt.
        log.error({ hunt, member: member.slice(0, 200), err }, 'undecodable pending event dropped');
        metrics.badEvent();
      }, () => this.freshLimit());
      if (fresh < start + L) {
        log.info({ hunt, start, limit: fresh }, 'frontier went back while a window was being closed (a server or epoch newly registered, or Redis lost writes in a failover); trying again on the next pass');
        return;
      }
      let end = start + L;
      if (!events.size && !events.commands.length) {
        // Nothing in this window: close the run of empty windows up to the next pending event at once.
        const next = await redis.zrangebyscore(keys.pending(hunt), String(start + L), '+inf', 'WITHSCORES', 'LIMIT', 0, 1);
        const lastReady = Math.floor(Math.min(limit, fresh) / L) * L;
        end = next[1] === undefined ? lastReady : Math.min(lastReady, Math.floor(Number(next[1]) / L) * L);
        end = Math.max(end, start + L);
      }
      const readAt = performance.now();
      const { state } = parseState(hunt, stateRaw);
      // The finds of the players this window names (a legacy state's are in its blob: listed for the merge).
      const table = new PlayerTable(events.size + 16);
      await loadPlayers(redis, keys, hunt, table, events.p, events.size);
      table.markHistory();
      loadLegacyPlayers(table, state.players);
      state.players = {};
      const loadedAt = performance.now();
      const prizes: DecidedPrize[] = foldEvents(state, table, events);
      const foldedAt = performance.now();

      const w = { hunt, start, end };
      const list = table.finds > table.history ? findList(table, start) : undefined;
      const finds = list ? findListJson(list) : '';
      const findsAt = performance.now();
      await this.ctx.hooks?.beforeCommit?.(w);
      const res = await commitWindow(redis, keys, scripts, {
        hunt, expected: closedRaw === null ? undefined : start, start, end, state, commitId: `${this.id}-${++this.commits}`,
        prizes, finds, read, late,
      });
      const doneAt = performance.now();
      const ms: CloseTimings = { read: readAt - began, players: loadedAt - readAt, fold: foldedAt - loadedAt, finds: findsAt - foldedAt, commit: doneAt - findsAt, fanOut: 0 };
      this.ctx.hooks?.afterCommit?.({ ...w, ...res, ms });
      if (res.status === 'committed' || res.status === 'resent') {
        retries = 0;
        metrics.windowClosed((performance.now() - began) / 1000, res.newPrizes);
        if (res.status === 'resent') log.info({ hunt, start }, 'window commit was applied before the connection dropped; its resend changed nothing');
        if (late.length) {
          metrics.lateEvents(late.length);
          log.warn({ hunt, ids: late.slice(0, 100), count: late.length, closed: start }, 'late events found pending for a closed window: not folded');
        }
        if (list) this.committed.set(hunt, { end, list });
        await fanOutWindows(redis, keys, scripts, hunt);
        ms.fanOut = performance.now() - doneAt;
        this.ctx.hooks?.afterFanOut?.({ ...w, ms });
        log.debug({ hunt, start, end, events: events.size + events.commands.length, prizes: prizes.length, newPrizes: res.newPrizes, finds: table.finds - table.history, ms }, 'window closed');
      } else if (res.status === 'stale') {
        metrics.staleCommit();
        log.info({ hunt, start }, 'stale window commit rejected: another worker closed the window first');
      } else if (++retries > MAX_COMMIT_RETRIES) {
        log.warn({ hunt, start, status: res.status }, 'pending events keep changing during commit; retrying on the next pass');
        return;
      }
    }
  }

  /**
   * Merges the finds of the hunt's window ending at `end` into the player buckets
   * (window-merge.ts): from memory when this closer committed that window, else as stored.
   */
  private async merge(hunt: string, end: number): Promise<MergeResult | undefined> {
    const hooks = this.ctx.hooks;
    const mine = this.committed.get(hunt);
    this.committed.delete(hunt);
    const opts: MergeOptions = mine?.end === end ? { committed: mine } : {};
    if (hooks?.afterMergeChunk) opts.afterChunk = (written, total) => hooks.afterMergeChunk!(hunt, written, total);
    if (hooks?.mergeChunkBuckets) opts.chunk = hooks.mergeChunkBuckets;
    const began = performance.now();
    const res = await mergeWindowFinds(this.ctx.redis, this.ctx.keys, this.ctx.scripts, hunt, opts);
    if (res && !res.byUs) this.ctx.log.info({ hunt, end: res.end }, 'window finds merged by another worker meanwhile');
    if (res) hooks?.afterMerge?.({ hunt, end: res.end, finds: res.finds, ms: performance.now() - began });
    return res;
  }
}

/** Every prize decided for a hunt, sorted by reason. */
export async function readDecidedPrizes(redis: Redis, keys: RedisKeys, hunt: string): Promise<DecidedPrize[]> {
  const all = await redis.hvals(keys.prizes(hunt));
  return all.map((j) => JSON.parse(j) as DecidedPrize).sort((a, b) => (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
}
