/**
 * The merge list: what a window changed in the players' finds, as the window commit stores
 * it in one value (worker/lua/commit-window.lua) until worker/window-merge.ts has spread
 * it over the player buckets. It is the finds the fold added (player-table.ts), each
 * (player, server, treasure, time) in the fold's order, as columns:
 *
 *   {"v": 1, "base": window start, "servers": [...], "treasures": [...],
 *    "p": [player, ...], "s": [server index, ...], "tr": [treasure index, ...], "t": [time - base, ...]}
 *
 * Columns of small numbers: for a window of 230 k finds, 7 MB built and parsed by the
 * engine's JSON in tens of ms, where an object per player took ten times that.
 * Applied in order over the finds stored before the window (applyFind), it gives the
 * finds after it, and applying it again over the result changes nothing: so a merge can
 * stop anywhere and start over, and a reader can apply it over buckets merged or not.
 */
import { applyFind, type PlayerFinds } from './hunt-fold.js';
import type { PlayerTable } from './player-table.js';
import { bucketJson, bucketNumber, fromStored, parseBucket, PLAYER_BUCKETS } from './player-buckets.js';

export interface FindList {
  base: number;
  servers: string[];
  treasures: string[];
  p: string[];
  s: number[];
  tr: number[];
  t: number[];
}

/** The finds added to `table` after its history, as a merge list; `base` is the window start. */
export function findList(table: PlayerTable, base: number): FindList {
  const n = table.finds - table.history;
  const p = new Array<string>(n);
  const s = new Array<number>(n);
  const tr = new Array<number>(n);
  const t = new Array<number>(n);
  for (let i = 0, f = table.history; i < n; i++, f++) {
    p[i] = table.ids[table.fPlayer[f]!]!;
    s[i] = table.fServer[f]!;
    tr[i] = table.fTr[f]!;
    t[i] = table.fT[f]! - base;
  }
  return { base, servers: table.servers.slice(), treasures: table.treasures.slice(), p, s, tr, t };
}

/** A merge list as stored. */
export function findListJson(list: FindList): string {
  const { base, servers, treasures, p, s, tr, t } = list;
  return JSON.stringify({ v: 1, base, servers, treasures, p, s, tr, t });
}

/** A merge list, checked; throws naming the hunt and what is wrong. */
export function parseFindList(hunt: string, json: string): FindList {
  const bad = (what: string): never => {
    throw new Error(`merge list of hunt ${hunt}: ${what}`);
  };
  const v = JSON.parse(json) as Partial<FindList> & { v?: unknown };
  if (!v || typeof v !== 'object' || v.v !== 1) bad('not {"v": 1, ...}');
  const { base, servers, treasures, p, s, tr, t } = v;
  if (typeof base !== 'number') bad('base is not a number');
  for (const [name, col] of Object.entries({ servers, treasures, p, s, tr, t })) if (!Array.isArray(col)) bad(`${name} is not an array`);
  const n = p!.length;
  if (s!.length !== n || tr!.length !== n || t!.length !== n) bad(`columns of unequal length (p ${n}, s ${s!.length}, tr ${tr!.length}, t ${t!.length})`);
  for (let i = 0; i < n; i++) {
    if (typeof p![i] !== 'string' || servers![s![i]!] === undefined || treasures![tr![i]!] === undefined || typeof t![i] !== 'number') bad(`find ${i} is not (player, server index, treasure index, time)`);
  }
  return v as FindList;
}

/** Applies the list's finds of `players` (a subset of its indexes, in order) to `get(player)`'s finds. */
export function applyFindList(list: FindList, indexes: Iterable<number>, get: (player: string) => PlayerFinds): void {
  for (const i of indexes) applyFind(get(list.p[i]!), list.servers[list.s[i]!]!, list.treasures[list.tr[i]!]!, list.base + list.t[i]!);
}

/** Every index of the list, in order. */
export function* allFinds(list: FindList): Iterable<number> {
  for (let i = 0; i < list.p.length; i++) yield i;
}

/** The list's finds by player bucket: each bucket's field name and its finds' indexes, in list order. */
export type BucketFinds = [bucket: string, indexes: Int32Array][];

/**
 * The list's finds grouped by player bucket. A counting sort over the bucket numbers: a
 * Map of 65 k arrays for a list of 230 k finds cost the merge 200 ms here.
 */
export function findsByBucket(list: FindList): BucketFinds {
  const n = list.p.length;
  const bucketOf = new Int32Array(n);
  const counts = new Int32Array(PLAYER_BUCKETS + 1);
  for (let i = 0; i < n; i++) counts[(bucketOf[i] = bucketNumber(list.p[i]!)) + 1]!++;
  for (let b = 0; b < PLAYER_BUCKETS; b++) counts[b + 1]! += counts[b]!;
  const order = new Int32Array(n);
  const next = counts.slice(0, PLAYER_BUCKETS);
  for (let i = 0; i < n; i++) order[next[bucketOf[i]!]!++] = i;
  const out: BucketFinds = [];
  for (let b = 0; b < PLAYER_BUCKETS; b++) if (counts[b + 1]! > counts[b]!) out.push([b.toString(36), order.subarray(counts[b]!, counts[b + 1]!)]);
  return out;
}

/**
 * The players hash fields that merge the list into the buckets it touches: each bucket
 * rewritten whole, its other players kept. `stored` holds each bucket's current JSON
 * (missing or null: none yet); it may already hold some of the list's finds (a merge
 * that stopped midway, another worker's): the result is the same.
 */
export function mergedBuckets(list: FindList, buckets: BucketFinds, stored: Map<string, string | null>): [string, string][] {
  const out: [string, string][] = [];
  for (const [b, indexes] of buckets) {
    const players = new Map<string, PlayerFinds>();
    const raw = stored.get(b);
    if (raw) {
      const old = parseBucket(raw);
      for (const p in old) players.set(p, fromStored(old[p]!));
    }
    applyFindList(list, indexes, (p) => {
      let pf = players.get(p);
      if (!pf) players.set(p, (pf = { f: {}, lt: 0, ls: '' }));
      return pf;
    });
    out.push([b, bucketJson(players)]);
  }
  return out;
}
