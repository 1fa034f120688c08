/**
 * The worker's Redis scripts, and the one place that packs their KEYS and ARGV (bullmq's
 * scripts.ts): callers pass what a script is about (a shard, an owner, a window), never
 * positions. One file each under ./lua/ (the header of each states its KEYS, ARGV and
 * reply), read once at start-up and called by SHA; each reply is checked and typed here.
 *
 * ingest-record.lua's arguments are packed by record-ingest.ts, which groups a record's
 * events per hunt while it packs them; its reply is typed here.
 */
import type { Redis } from 'ioredis';
import { boolReply, intReply, intsReply, luaFile, LuaScript, type LuaArg } from '../backend/redis/lua-script.js';
import type { RedisKeys } from '../backend/redis/keys.js';
import { PRIZE_STREAM_RETENTION_MS } from '../backend/prize-stream.js';
import type { DecidedPrize, HuntState } from '../hunt/hunt-fold.js';
import { storedStateJson } from '../hunt/hunt-store.js';

/** KEYS of the lease scripts: the shard's lease and its fencing token counter. */
type LeaseKeys = readonly [lease: string, leaseToken: string];

/** lua/ingest-record.lua's reply; see its header. */
export interface IngestReply {
  /** 1 applied; 0 a part seen before (nothing changed); -1 regroup and send again */
  applied: 1 | 0 | -1;
  stored: number;
  duplicateEvents: number;
  late: number;
  next: number;
  /** the (server, epoch) watermark after the record, '' when none yet */
  wm: string;
}

function ingestReply(raw: unknown): IngestReply | undefined {
  if (!Array.isArray(raw) || raw.length !== 6) return undefined;
  const [applied, stored, duplicateEvents, late, next, wm] = raw as unknown[];
  if (applied !== 1 && applied !== 0 && applied !== -1) return undefined;
  if (![stored, duplicateEvents, late, next].every((x) => typeof x === 'number')) return undefined;
  if (typeof wm !== 'string') return undefined;
  return { applied, stored: stored as number, duplicateEvents: duplicateEvents as number, late: late as number, next: next as number, wm };
}

/** What one window commit writes: see lua/commit-window.lua. */
export interface CommitArgs {
  hunt: string;
  /** the window start, or undefined for the hunt's first window (closed must be missing) */
  expected: number | undefined;
  start: number;
  end: number;
  /** the state after the fold; its players are not written, see `players` */
  state: HuntState;
  /** unique per commit attempt, so a resent commit recognises itself */
  commitId: string;
  prizes: DecidedPrize[];
  /** players hash fields to write: changedBuckets() */
  players: [string, string][];
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

export class WorkerScripts {
  /** The scripts themselves, for tests that call one with hand-made arguments. */
  readonly lua = {
    ingestRecord: new LuaScript<IngestReply>(file('ingest-record.lua'), ingestReply),
    commitWindow: new LuaScript<CommitReply>(file('commit-window.lua'), commitReply),
    acquireLease: new LuaScript<number, LeaseKeys, [owner: string, ttlMs: number]>(file('acquire-lease-2.lua'), intReply),
    stealLease: new LuaScript<number, LeaseKeys, [from: string, owner: string, ttlMs: number]>(file('steal-lease-2.lua'), intReply),
    renewLease: new LuaScript<boolean, LeaseKeys, [owner: string, token: string, ttlMs: number]>(file('renew-lease-2.lua'), boolReply),
    releaseLease: new LuaScript<boolean, LeaseKeys, [owner: string, token: string]>(file('release-lease-2.lua'), boolReply),
    checkpoint: new LuaScript<boolean, readonly [leaseToken: string, checkpoint: string], [token: string, seq: string, ended: '1' | '0']>(file('checkpoint-2.lua'), boolReply),
  } as const;

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

  /** One window commit; `servers` are the prize streams to write to (the registry plus every prize's server). */
  commitWindow(redis: Redis, keys: RedisKeys, a: CommitArgs, servers: readonly string[]): Promise<CommitReply> {
    const list = [...servers].sort();
    const index = new Map(list.map((s, i) => [s, i + 1]));
    const k = [keys.closed(a.hunt), keys.state(a.hunt), keys.prizes(a.hunt), keys.pending(a.hunt), keys.late(a.hunt), keys.servers(), keys.players(a.hunt)];
    for (const s of list) k.push(keys.prizeStream(s));
    const argv: LuaArg[] = [
      a.expected === undefined ? '' : String(a.expected),
      a.hunt,
      String(a.start),
      String(a.end),
      storedStateJson(a.state, a.commitId),
      PRIZE_STREAM_RETENTION_MS,
      a.read,
      list.length,
    ];
    for (const s of list) argv.push(s);
    argv.push(a.prizes.length);
    for (const p of a.prizes) {
      const i = index.get(p.server);
      if (i === undefined) throw new Error(`prize ${p.reason}: server ${p.server} is not among the commit's servers`);
      argv.push(p.reason, JSON.stringify(p), i, p.player, p.item, p.count);
    }
    argv.push(a.players.length);
    for (const [field, value] of a.players) argv.push(field, value);
    argv.push(a.late.length);
    for (const id of a.late) argv.push(id);
    return this.lua.commitWindow.run(redis, k, argv);
  }
}

const leaseKeys = (keys: RedisKeys, shard: string): LeaseKeys => [keys.lease(shard), keys.leaseToken(shard)];

let loaded: WorkerScripts | undefined;

/** The worker's scripts, read once per process. */
export function workerScripts(): WorkerScripts {
  loaded ??= new WorkerScripts();
  return loaded;
}
