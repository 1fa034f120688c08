/**
 * Where a hunt's folded state lives in Redis: the stored format, its player buckets, and
 * its reads. The worker's window commit (worker/window-commit.ts) and merge
 * (worker/window-merge.ts) write it; gateway queries read it.
 *
 *   state    STRING JSON of the HuntState without its players: rules, running, finder
 *            counts, completions... small, rewritten at each window commit
 *   players  HASH bucket -> JSON { player: [server of latest find, its time, treasure,
 *            time, treasure, time, ...] } for the players whose id hashes to the bucket
 *            (PLAYER_BUCKETS of them). A close reads only the buckets of the players its
 *            events name, and only the buckets of players whose finds changed are
 *            rewritten. So a window costs about what its events cost, not what the hunt's
 *            history does (when the whole state, players included, was one blob rewritten
 *            every window, a window took 0.7 s once 230 k players had found something), and
 *            a window of 230 k finds writes 65 k hash fields, not 230 k (a field costs
 *            Redis about 2 us to write: measured, HSET of 230 k fields took 0.5 s).
 *   merge    HASH {end, finds}: the finds of the players the last committed window
 *            changed (findsJson()), one value however many players, written by the commit
 *            and spread over the buckets by the merge step that follows. The bucket
 *            writes (65 k fields, and the serialization of every player in them: over a
 *            second for a window of 230 k finds) are off the window's close: its prizes
 *            are decided and on their way first. Until the merge is done, readers take
 *            the players' finds from here (readHuntState), and no next window commits.
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

/** One player's finds as stored: [server of the latest find, its time, treasure, time, ...]. */
export type StoredFinds = (string | number)[];

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

/**
 * Loads the stored finds of the named players into `state.players` (the players they
 * share a bucket with come along). Players already in `state.players` (a legacy state)
 * win over the hash. Returns how many buckets were read.
 */
export async function loadPlayers(redis: Redis, keys: RedisKeys, state: HuntState, players: Iterable<string>): Promise<number> {
  const wanted = new Set<string>();
  for (const p of players) wanted.add(playerBucket(p));
  if (!wanted.size) return 0;
  const buckets = [...wanted];
  const key = keys.players(state.hunt);
  // A hunt nobody has found anything in yet (its first windows) has nothing to read.
  if (buckets.length > 64 && (await redis.exists(key)) === 0) return 0;
  const values = await hmgetChunked(redis, key, buckets);
  for (const v of values) {
    if (v === null) continue;
    const stored = JSON.parse(v) as Record<string, StoredFinds>;
    for (const p in stored) state.players[p] ??= fromStored(stored[p]!);
  }
  return buckets.length;
}

/** HMGET of many fields, HMGET_CHUNK per command, in one round trip. */
export async function hmgetChunked(redis: Redis, key: string, fields: string[]): Promise<(string | null)[]> {
  if (!fields.length) return [];
  const pipe = redis.pipeline();
  for (let i = 0; i < fields.length; i += HMGET_CHUNK) pipe.call('HMGET', [key, ...fields.slice(i, i + HMGET_CHUNK)]);
  const out: (string | null)[] = [];
  for (const [err, values] of (await pipe.exec()) ?? []) {
    if (err) throw err;
    for (const v of values as (string | null)[]) out.push(v);
  }
  return out;
}

/**
 * The finds of `players` as one JSON object, player -> [server of the latest find, its
 * time, treasure, time, ...]: a bucket's format, for all of a window's changed players at
 * once. The window commit stores it whole (one value, however many players), and
 * window-merge.ts spreads it over the buckets afterwards.
 */
export function findsJson(state: HuntState, players: Iterable<string>): string {
  // Hand-built: a window of 230 k new finders spent over a second in generic
  // JSON.stringify of their small objects. Ids of the usual shape need no escaping.
  const parts: string[] = [];
  for (const p of players) {
    const f = state.players[p];
    if (!f) continue;
    let json = `${str(p)}:[${str(f.ls)},${f.lt}`;
    const fs = f.f;
    for (const tr in fs) json += `,${str(tr)},${fs[tr]}`;
    parts.push(json + ']');
  }
  return `{${parts.join(',')}}`;
}

/** A findsJson() value, parsed: player -> stored finds. Throws, naming the hunt, on anything else. */
export function parseFinds(hunt: string, json: string): Record<string, StoredFinds> {
  const v = JSON.parse(json) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`finds of hunt ${hunt} are not a JSON object of player -> finds: ${json.slice(0, 200)}`);
  return v as Record<string, StoredFinds>;
}

/**
 * The players hash fields that merge `finds` into the stored buckets: each bucket holding
 * one of them, rewritten whole (the players already in it kept, those of `finds`
 * replaced). `stored` is the current value of each such bucket (null: none yet).
 * Writing the result twice, or from a bucket read before or after an earlier write of the
 * same `finds`, gives the same bucket: only players of `finds` change.
 */
export function mergedBuckets(finds: Record<string, StoredFinds>, byBucket: Map<string, string[]>, stored: Map<string, string | null>): [string, string][] {
  const out: [string, string][] = [];
  for (const [b, players] of byBucket) {
    const raw = stored.get(b) ?? null;
    const parts: string[] = [];
    if (raw !== null) {
      const old = JSON.parse(raw) as Record<string, StoredFinds>;
      for (const p in old) if (finds[p] === undefined) parts.push(`${str(p)}:${storedJson(old[p]!)}`);
    }
    for (const p of players) parts.push(`${str(p)}:${storedJson(finds[p]!)}`);
    out.push([b, `{${parts.join(',')}}`]);
  }
  return out;
}

/** Players by bucket. */
export function byBucket(players: Iterable<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of players) {
    const b = playerBucket(p);
    const list = out.get(b);
    if (list) list.push(p);
    else out.set(b, [p]);
  }
  return out;
}

function storedJson(a: StoredFinds): string {
  let json = '[';
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (i) json += ',';
    json += typeof x === 'number' ? String(x) : str(x);
  }
  return json + ']';
}

const PLAIN = /^[A-Za-z0-9_.:-]*$/;
const str = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

/** The whole state of a hunt as of its last closed window, every player included (for queries). */
export async function readHuntState(redis: Redis, keys: RedisKeys, hunt: string): Promise<HuntState | undefined> {
  // The state and the finds of its last window not merged yet, read together (one slot).
  const res = await redis.multi().get(keys.state(hunt)).hget(keys.merge(hunt), 'finds').exec();
  const raw = (res?.[0]?.[1] ?? null) as string | null;
  const unmerged = (res?.[1]?.[1] ?? null) as string | null;
  if (raw === null) return undefined;
  const { state } = parseState(hunt, raw);
  if (unmerged !== null) {
    const finds = parseFinds(hunt, unmerged);
    for (const p in finds) state.players[p] ??= fromStored(finds[p]!);
  }
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
