/**
 * Where a hunt's folded state lives in Redis: the stored format, its player buckets, and
 * its reads. The worker's window commit (worker/window-commit.ts) and merge
 * (worker/window-merge.ts) write it; gateway queries read it.
 *
 *   state    STRING JSON of the HuntState without its players: rules, running, finder
 *            counts, completions... small, rewritten at each window commit
 *   players  HASH bucket -> JSON { player: [server of latest find, its time, treasure,
 *            time, treasure, time, ...] } for the players whose id hashes to the bucket
 *            (PLAYER_BUCKETS of them; the format is player-buckets.ts). A close reads only the buckets of the players its
 *            events name, and only the buckets of players whose finds changed are
 *            rewritten. So a window costs about what its events cost, not what the hunt's
 *            history does (when the whole state, players included, was one blob rewritten
 *            every window, a window took 0.7 s once 230 k players had found something), and
 *            a window of 230 k finds writes 65 k hash fields, not 230 k (a field costs
 *            Redis about 2 us to write: measured, HSET of 230 k fields took 0.5 s).
 *   merge    STRINGs: the end of the last committed window (merge) and the finds it made
 *            (merge-list, find-list.ts), one value however many players, written by the commit
 *            and spread over the buckets by the merge step that follows it. The bucket
 *            writes (65 k fields, and the serialization of every player in them: over a
 *            second for a window of 230 k finds) are off the window's close: its prizes
 *            are decided and on their way first. Until the merge is done, readers take
 *            the players' finds from here (readHuntState), and no next window commits.
 *
 * States written by earlier versions (players inside the blob) are read as they are; the
 * next commit moves their players to the hash (loadLegacyPlayers: through its merge list).
 */
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../backend/redis/keys.js';
import { emptyHuntState, type HuntState, type PlayerFinds } from './hunt-fold.js';
import type { PlayerTable } from './player-table.js';
import { allFinds, applyFindList, parseFindList } from './find-list.js';
import { bucketNumber, fromStored, parseBucket, PLAYER_BUCKETS } from './player-buckets.js';

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
 * Loads the stored finds of the first `count` of `players` into `table` (the players
 * they share a bucket with come along). Returns how many buckets were read.
 */
export async function loadPlayers(redis: Redis, keys: RedisKeys, hunt: string, table: PlayerTable, players: readonly string[], count = players.length): Promise<number> {
  if (!count) return 0;
  const key = keys.players(hunt);
  // A hunt nobody has found anything in yet (its first windows) has nothing to read.
  if (count > 64 && (await redis.exists(key)) === 0) return 0;
  const wanted = new Uint8Array(PLAYER_BUCKETS);
  const buckets: string[] = [];
  for (let i = 0; i < count; i++) {
    const b = bucketNumber(players[i]!);
    if (wanted[b]) continue;
    wanted[b] = 1;
    buckets.push(b.toString(36));
  }
  for (const v of await hmgetChunked(redis, key, buckets)) {
    if (v === null) continue;
    const stored = parseBucket(v);
    for (const p in stored) table.loadStored(p, stored[p]!);
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
 * A legacy state's players (finds kept inside the state blob by earlier versions) into
 * `table` after its history, so the merge list moves them to the buckets: each player's
 * finds by time, each with the server of the latest (the one server the stored form keeps).
 */
export function loadLegacyPlayers(table: PlayerTable, players: Record<string, PlayerFinds>): void {
  for (const p in players) {
    const pf = players[p]!;
    const slot = table.slot(p);
    const server = table.server(pf.ls);
    for (const [tr, t] of Object.entries(pf.f).sort((a, b) => a[1] - b[1])) {
      const tt = table.treasure(tr);
      if (table.findTime(slot, tt) === undefined) table.addFind(slot, tt, t, server);
    }
  }
}

/** The whole state of a hunt as of its last closed window, every player included (for queries). */
export async function readHuntState(redis: Redis, keys: RedisKeys, hunt: string): Promise<HuntState | undefined> {
  // The state and the merge list of its last window, read together (one slot).
  const res = await redis.multi().get(keys.state(hunt)).get(keys.mergeList(hunt)).exec();
  const raw = (res?.[0]?.[1] ?? null) as string | null;
  const unmerged = (res?.[1]?.[1] ?? null) as string | null;
  if (raw === null) return undefined;
  const { state } = parseState(hunt, raw);
  let cursor = '0';
  do {
    const [next, kv] = await redis.hscan(keys.players(hunt), cursor, 'COUNT', 1000);
    cursor = next;
    for (let i = 0; i + 1 < kv.length; i += 2) {
      const stored = parseBucket(kv[i + 1]!);
      for (const p in stored) state.players[p] ??= fromStored(stored[p]!);
    }
  } while (cursor !== '0');
  // Over the buckets, merged or not yet: the same finds either way.
  if (unmerged !== null) {
    const list = parseFindList(hunt, unmerged);
    applyFindList(list, allFinds(list), (p) => (state.players[p] ??= { f: {}, lt: 0, ls: '' }));
  }
  return state;
}
