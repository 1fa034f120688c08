/**
 * The worker's Redis scripts, and the one place that packs their KEYS and ARGV (bullmq's
 * scripts.ts): callers pass what a script is about (a shard, an owner, a window), never
 * positions. One file each under ./lua/ (the header of each states its KEYS, ARGV and
 * reply), read once at start-up and called by SHA; each reply is checked and typed here.
 *
 * ingest-hunt-4.lua's entries are grouped by record-ingest.ts (pending-events.ts).
 */
import type { Redis } from 'ioredis';
import { boolReply, intReply, intsReply, luaFile, LuaScript, type LuaArg } from '../backend/redis/lua-script.js';
import type { RedisKeys } from '../backend/redis/keys.js';
import { PRIZE_STREAM_RETENTION_MS } from '../backend/prize-stream.js';
import type { DecidedPrize, HuntState } from '../hunt/hunt-fold.js';
import { storedStateJson } from '../hunt/hunt-store.js';
import type { EventRecord } from '../backend/kinesis/record-format.js';
import type { PendingEntry } from './pending-events.js';

/** KEYS of the lease scripts: the shard's lease and its fencing token counter. */
type LeaseKeys = readonly [lease: string, leaseToken: string];

/** lua/ingest-hunt-4.lua's reply; see its header. */
export interface IngestHuntReply {
  /** 1 applied; -1 regroup and send again (nothing changed) */
  applied: 1 | -1;
  stored: number;
  duplicateEvents: number;
  late: number;
}

const quad = intsReply(4);
function ingestHuntReply(raw: unknown): IngestHuntReply | undefined {
  const r = quad(raw);
  if (!r || (r[0] !== 1 && r[0] !== -1)) return undefined;
  return { applied: r[0], stored: r[1]!, duplicateEvents: r[2]!, late: r[3]! };
}

/** lua/part-seen-3.lua's and lua/mark-part-3.lua's reply: the flag, then the (server, epoch) watermark. */
interface PartReply {
  flag: boolean;
  wm: number | undefined;
}

function partReply(raw: unknown): PartReply | undefined {
  if (!Array.isArray(raw) || raw.length !== 3) return undefined;
  const [flag, next, wm] = raw as unknown[];
  if ((flag !== 0 && flag !== 1) || typeof next !== 'number' || typeof wm !== 'string') return undefined;
  return { flag: flag === 1, wm: wm === '' ? undefined : Number(wm) };
}

/** The part of a record the ingest steps need. */
type RecordPart = Pick<EventRecord, 's' | 'e' | 'q' | 'pt' | 'np' | 'wm'>;

const partKeys = (keys: RedisKeys, r: RecordPart) => [keys.batchParts(r.s, r.e, r.q), keys.batchDone(r.s, r.e), keys.watermark(r.s, r.e)] as const;

/** What one window commit writes: see lua/commit-window.lua. */
export interface CommitArgs {
  hunt: string;
  /** the window start, or undefined for the hunt's first window (closed must be missing) */
  expected: number | undefined;
  start: number;
  end: number;
  /** the state after the fold; its players are not written, see `finds` */
  state: HuntState;
  /** unique per commit attempt, so a resent commit recognises itself */
  commitId: string;
  prizes: DecidedPrize[];
  /** the finds of the players the window changed (findsJson()), '' when none changed: the merge list */
  finds: string;
  /** pending members with a score below `end` that were read: folded, late or undecodable */
  read: number;
  /** ids of late events found in pending (t below the window start) */
  late: string[];
}

/** lua/commit-window.lua's reply: its status code and how many prizes this call set. */
export interface CommitReply {
  code: number;
  newPrizes: number;
}

const pair = intsReply(2);
const commitReply = (raw: unknown): CommitReply | undefined => {
  const r = pair(raw);
  return r && { code: r[0]!, newPrizes: r[1]! };
};

const file = (name: string) => luaFile(import.meta.url, `lua/${name}`);

/** How long a merge list sent ahead of its commit waits for it: far longer than a commit's round trip. */
const MERGE_STAGED_TTL_MS = 10 * 60_000;

export class WorkerScripts {
  /** The scripts themselves, for tests that call one with hand-made arguments. */
  readonly lua = {
    partSeen: new LuaScript<PartReply>(file('part-seen-3.lua'), partReply),
    ingestHunt: new LuaScript<IngestHuntReply>(file('ingest-hunt-4.lua'), ingestHuntReply),
    markPart: new LuaScript<PartReply>(file('mark-part-3.lua'), partReply),
    commitWindow: new LuaScript<CommitReply>(file('commit-window.lua'), commitReply),
    fanOutWindow: new LuaScript<boolean, readonly [stream: string, fanned: string]>(file('fan-out-window-2.lua'), boolReply),
    mergePlayers: new LuaScript<boolean, readonly [merge: string, mergeList: string, players: string]>(file('merge-players-3.lua'), boolReply),
    acquireLease: new LuaScript<number, LeaseKeys, [owner: string, ttlMs: number]>(file('acquire-lease-2.lua'), intReply),
    stealLease: new LuaScript<number, LeaseKeys, [from: string, owner: string, ttlMs: number]>(file('steal-lease-2.lua'), intReply),
    renewLease: new LuaScript<boolean, LeaseKeys, [owner: string, token: string, ttlMs: number]>(file('renew-lease-2.lua'), boolReply),
    releaseLease: new LuaScript<boolean, LeaseKeys, [owner: string, token: string]>(file('release-lease-2.lua'), boolReply),
    checkpoint: new LuaScript<boolean, readonly [leaseToken: string, checkpoint: string], [token: string, seq: string, ended: '1' | '0']>(file('checkpoint-2.lua'), boolReply),
  } as const;

  /** Ingest step 1: whether the record's part was ingested before, and the watermark. */
  async partSeen(redis: Redis, keys: RedisKeys, r: RecordPart): Promise<{ seen: boolean; wm: number | undefined }> {
    const x = await this.lua.partSeen.run(redis, partKeys(keys, r), [r.q, r.pt]);
    return { seen: x.flag, wm: x.wm };
  }

  /** Ingest step 2, once per hunt: `window` from the record's rules, `groupedBy` the length its entries were grouped by. */
  ingestHunt(redis: Redis, keys: RedisKeys, hunt: string, window: number | undefined, groupedBy: number | undefined, entries: readonly PendingEntry[]): Promise<IngestHuntReply> {
    const argv: LuaArg[] = [window === undefined ? '' : String(window), groupedBy === undefined ? '' : String(groupedBy), entries.length];
    for (const e of entries) argv.push(e.score, e.member, e.ids, e.n, e.last);
    return this.lua.ingestHunt.run(redis, [keys.closed(hunt), keys.pending(hunt), keys.late(hunt), keys.window(hunt)], argv);
  }

  /** Ingest step 3: marks the part; applied false when it was marked before. */
  async markPart(redis: Redis, keys: RedisKeys, r: RecordPart, ttlMs: number): Promise<{ applied: boolean; wm: number | undefined }> {
    const x = await this.lua.markPart.run(redis, partKeys(keys, r), [r.q, r.pt, r.np, String(r.wm), ttlMs]);
    return { applied: x.flag, wm: x.wm };
  }

  /** A new fencing token (> 0), or 0 when another worker holds the lease. */
  acquireLease(redis: Redis, keys: RedisKeys, shard: string, owner: string, ttlMs: number): Promise<number> {
    return this.lua.acquireLease.run(redis, leaseKeys(keys, shard), [owner, ttlMs]);
  }

  /** A new fencing token (> 0), or 0 when `from` no longer holds the lease. */
  stealLease(redis: Redis, keys: RedisKeys, shard: string, from: string, owner: string, ttlMs: number): Promise<number> {
    return this.lua.stealLease.run(redis, leaseKeys(keys, shard), [from, owner, ttlMs]);
  }

  /** false: the lease is lost (expired, taken over, or a newer token was issued). */
  renewLease(redis: Redis, keys: RedisKeys, shard: string, owner: string, token: number, ttlMs: number): Promise<boolean> {
    return this.lua.renewLease.run(redis, leaseKeys(keys, shard), [owner, String(token), ttlMs]);
  }

  /** false: it was not ours any more. */
  releaseLease(redis: Redis, keys: RedisKeys, shard: string, owner: string, token: number): Promise<boolean> {
    return this.lua.releaseLease.run(redis, leaseKeys(keys, shard), [owner, String(token)]);
  }

  /** false: refused, our token is stale. */
  checkpoint(redis: Redis, keys: RedisKeys, shard: string, token: number, seq: string | undefined, ended: boolean): Promise<boolean> {
    return this.lua.checkpoint.run(redis, [keys.leaseToken(shard), keys.checkpoint(shard)], [String(token), seq ?? '', ended ? '1' : '0']);
  }

  /**
   * Step 1 of a window commit, in the hunt's slot: see lua/commit-window.lua. The merge
   * list goes ahead as a plain SET in the same round trip (the script's header says why);
   * commands on one connection run in order, so the script finds it there.
   */
  async commitWindow(redis: Redis, keys: RedisKeys, a: CommitArgs): Promise<CommitReply> {
    const h = a.hunt;
    const staged = keys.mergeStaged(h, a.commitId);
    const k = [keys.closed(h), keys.state(h), keys.prizes(h), keys.pending(h), keys.late(h), keys.merge(h), keys.fanOut(h), keys.mergeList(h), staged];
    const argv: LuaArg[] = [a.expected === undefined ? '' : String(a.expected), String(a.start), String(a.end), storedStateJson(a.state, a.commitId), a.read];
    argv.push(a.prizes.length);
    for (const p of a.prizes) argv.push(p.reason, JSON.stringify(p), p.server, p.player, p.item, p.count);
    argv.push(a.finds ? '1' : '0');
    argv.push(a.late.length);
    for (const id of a.late) argv.push(id);
    const [, reply] = await Promise.all([a.finds ? redis.set(staged, a.finds, 'PX', MERGE_STAGED_TTL_MS) : undefined, this.lua.commitWindow.run(redis, k, argv)]);
    return reply;
  }

  /** Step 2 of a window commit, for one server, in its slot: true when this call appended the window. */
  fanOutWindow(redis: Redis, keys: RedisKeys, server: string, w: FanOutWindow): Promise<boolean> {
    const argv: LuaArg[] = [w.hunt, String(w.start), String(w.end), PRIZE_STREAM_RETENTION_MS];
    const mine = w.prizes.filter((p) => p.server === server);
    argv.push(mine.length);
    for (const p of mine) argv.push(p.reason, p.player, p.item, p.count);
    return this.lua.fanOutWindow.run(redis, [keys.prizeStream(server), keys.fannedOut(server)], argv);
  }

  /**
   * Step 3 of a window commit, one chunk of buckets, in the hunt's slot: false when the
   * merge list of window `end` is no longer there (merged by another worker) and nothing
   * was written. `last` deletes the list.
   */
  mergePlayers(redis: Redis, keys: RedisKeys, hunt: string, end: number, buckets: readonly (readonly [string, string])[], last: boolean): Promise<boolean> {
    const argv: LuaArg[] = [String(end), last ? '1' : '0', buckets.length];
    for (const [field, value] of buckets) argv.push(field, value);
    return this.lua.mergePlayers.run(redis, [keys.merge(hunt), keys.mergeList(hunt), keys.players(hunt)], argv);
  }
}

/** A committed window as its fan-out entry holds it (lua/commit-window.lua). */
export interface FanOutWindow {
  hunt: string;
  start: number;
  end: number;
  /** the prizes its commit set */
  prizes: { reason: string; server: string; player: string; item: string; count: string }[];
}

const leaseKeys = (keys: RedisKeys, shard: string): LeaseKeys => [keys.lease(shard), keys.leaseToken(shard)];

let loaded: WorkerScripts | undefined;

/** The worker's scripts, read once per process. */
export function workerScripts(): WorkerScripts {
  loaded ??= new WorkerScripts();
  return loaded;
}
