/**
 * Where a hunt's folded state lives in Redis: the stored format, its player buckets, and
 * its reads. The worker's window commit (worker/window-commit.ts) writes it; gateway
 * queries read it.
 *
 *   state    STRING JSON of the HuntState without its players: rules, running, finder
 *            counts, completions... small, rewritten at each window commit
 *   players  HASH bucket -> JSON { player: [server of latest find, its time, treasure,
 *            time, treasure, time, ...] } for the players whose id hashes to the bucket
 *            (PLAYER_BUCKETS of them). A close reads only the buckets of the players its
 *            events name, and its commit rewrites only the buckets of players whose finds
 *            changed. So a window costs about what its events cost, not what the hunt's
 *            history does (when the whole state, players included, was one blob rewritten
 *            every window, a window took 0.7 s once 230 k players had found something), and
 *            a window of 230 k finds writes 65 k hash fields, not 230 k (a field costs
 *            Redis about 2 us to write: measured, HSET of 230 k fields took 0.5 s).
 *
 * States written by earlier versions (players inside the blob) are read as they are; the
 * next commit moves their players to the hash.
 */
import type { Redis } from 'ioredis';
import { fnv1a } from '../protocol/index.js';
import type { RedisKeys } from '../backend/redis/keys.js';
import { emptyHuntState, type HuntState, type PlayerFinds } from './hunt-fold.js';

/** Buckets of the players hash. Changing it would need a migration of every stored hunt. */
export const PLAYER_BUCKETS = 65_536;

/** The bucket of a player: FNV-1a of the id, low 16 bits, in base 36. */
export function playerBucket(player: string): string {
  return (fnv1a(player) % PLAYER_BUCKETS).toString(36);
}

type StoredFinds = (string | number)[];

function fromStored(a: StoredFinds): PlayerFinds {
  const f: Record<string, number> = {};
  for (let i = 2; i + 1 < a.length; i += 2) f[a[i] as string] = a[i + 1] as number;
  return { f, lt: a[1] as number, ls: a[0] as string };
}

/** Fields per HMGET: bounded so one reply stays a few MB. */
const HMGET_CHUNK = 8192;

/** The blob as stored: a HuntState whose players are in the players hash (plus the id of the commit that wrote it). */
type StoredState = HuntState & { commit?: string };

export interface LoadedState {
  state: HuntState;
  /** players that must be written at the next commit: those of a state from before the players hash */
  legacy: string[];
}

/** The state blob a commit writes: the state without its players, tagged with the commit's unique id. */
export function storedStateJson(state: HuntState, commitId: string): string {
  const blob: StoredState = { ...state, players: {}, commit: commitId };
  return JSON.stringify(blob);
}

export function parseState(hunt: string, raw: string | null): LoadedState {
  if (raw === null) return { state: emptyHuntState(hunt), legacy: [] };
  const s = JSON.parse(raw) as StoredState;
  delete s.commit;
  s.players ??= {};
  return { state: s, legacy: Object.keys(s.players) };
}

/** bucket -> the players stored in it (as loaded), so a bucket is rewritten whole. */
export type LoadedBuckets = Map<string, string[]>;

/**
 * Loads the buckets of the named players into `state.players`: every player of each
 * bucket, since a commit rewrites a bucket whole. Players already in `state.players`
 * (a legacy state) win over the hash.
 */
export async function loadPlayers(redis: Redis, keys: RedisKeys, state: HuntState, players: Iterable<string>): Promise<LoadedBuckets> {
  const loaded: LoadedBuckets = new Map();
  for (const p of players) {
    const b = playerBucket(p);
    if (!loaded.has(b)) loaded.set(b, []);
  }
  if (!loaded.size) return loaded;
  const buckets = [...loaded.keys()];
  const key = keys.players(state.hunt);
  // A hunt nobody has found anything in yet (its first windows) has nothing to read.
  if (buckets.length > 64 && (await redis.exists(key)) === 0) return loaded;
  const pipe = redis.pipeline();
  for (let i = 0; i < buckets.length; i += HMGET_CHUNK) pipe.call('HMGET', [key, ...buckets.slice(i, i + HMGET_CHUNK)]);
  const res = (await pipe.exec()) ?? [];
  let i = 0;
  for (const [err, values] of res) {
    if (err) throw err;
    for (const v of values as (string | null)[]) {
      const b = buckets[i++]!;
      if (v === null) continue;
      const members = loaded.get(b)!;
      const stored = JSON.parse(v) as Record<string, StoredFinds>;
      for (const p in stored) {
        members.push(p);
        state.players[p] ??= fromStored(stored[p]!);
      }
    }
  }
  return loaded;
}

/**
 * The players hash fields to write after a fold: each bucket holding a changed player,
 * with every player in it. `loaded` must hold those buckets (loadPlayers over a superset
 * of `changed`).
 */
export function changedBuckets(state: HuntState, changed: Iterable<string>, loaded: LoadedBuckets): [string, string][] {
  const dirty = new Map<string, string[]>();
  for (const p of changed) {
    const b = playerBucket(p);
    let list = dirty.get(b);
    if (!list) {
      const members = loaded.get(b);
      if (!members) throw new Error(`player ${p}: bucket ${b} was not loaded`);
      dirty.set(b, (list = members.slice()));
    }
    // Usually a new player or one of a handful: a linear check beats a Set per bucket.
    if (!list.includes(p)) list.push(p);
  }
  const out: [string, string][] = [];
  for (const [b, members] of dirty) {
    // Hand-built JSON: a window of 230 k new finders spent over a second in generic
    // JSON.stringify of 65 k small objects. Ids of the usual shape need no escaping.
    let json = '{';
    for (const p of members) {
      const f = state.players[p];
      if (!f) continue;
      if (json.length > 1) json += ',';
      json += `${str(p)}:[${str(f.ls)},${f.lt}`;
      const fs = f.f;
      for (const tr in fs) json += `,${str(tr)},${fs[tr]}`;
      json += ']';
    }
    out.push([b, json + '}']);
  }
  return out;
}

const PLAIN = /^[A-Za-z0-9_.:-]*$/;
const str = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

/** The whole state of a hunt as of its last closed window, every player included (for queries). */
export async function readHuntState(redis: Redis, keys: RedisKeys, hunt: string): Promise<HuntState | undefined> {
  const raw = await redis.get(keys.state(hunt));
  if (raw === null) return undefined;
  const { state } = parseState(hunt, raw);
  let cursor = '0';
  do {
    const [next, kv] = await redis.hscan(keys.players(hunt), cursor, 'COUNT', 1000);
    cursor = next;
    for (let i = 0; i + 1 < kv.length; i += 2) {
      const stored = JSON.parse(kv[i + 1]!) as Record<string, StoredFinds>;
      for (const p in stored) state.players[p] ??= fromStored(stored[p]!);
    }
  } while (cursor !== '0');
  return state;
}
