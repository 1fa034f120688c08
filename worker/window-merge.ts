/**
 * The third step of a window commit: the finds of the players a window changed, which the
 * commit (lua/commit-window.lua) stored as one merge list in the hunt's slot, spread over
 * the player buckets (hunt/hunt-store.ts), then the list deleted. Done after the fan-out,
 * so a window's prizes are decided and on the servers' streams without waiting for the
 * bucket writes (for a window of 230 k finds: 65 k buckets serialized and written, over a
 * second), and a moment later still (window-closer.ts MERGE_DELAY_MS) unless the next
 * window is due, so it does not compete with the delivery of those prizes.
 *
 * In chunks of buckets, one script call each (lua/merge-players-3.lua), so Redis is never
 * blocked long: prize deliveries read the same Redis meanwhile. Each call writes only
 * while the list is still the one its buckets were computed from. Resumable and
 * idempotent: any worker, at any pass, merges what is left, from the start of the list;
 * a bucket written twice is the same bucket (the script's header says why), and the
 * next window's commit is refused until the list is gone, so its fold always reads every
 * earlier find.
 */
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../backend/redis/keys.js';
import { hmgetChunked } from '../hunt/hunt-store.js';
import { findsByBucket, mergedBuckets, parseFindList, type FindList } from '../hunt/find-list.js';
import type { WorkerScripts } from './scripts.js';

/**
 * Buckets per script call. The merge may run while the gateways deliver prizes from the
 * same Redis: a call of 4,096 buckets blocked Redis for 11-27 ms (window-close benchmark,
 * slow log), one of 1,024 for a quarter of that.
 */
export const MERGE_CHUNK_BUCKETS = 1024;

export interface MergeOptions {
  /** buckets per script call (default MERGE_CHUNK_BUCKETS) */
  chunk?: number;
  /** called after each chunk was written, with how many buckets are written so far (tests stop a merge midway here) */
  afterChunk?(written: number, total: number): void | Promise<void>;
  /**
   * The list as the caller committed it for the window ending at `end`, so it is not read
   * and parsed back (a list of 230 k finds: 5 MB, 300 ms). The scripts still check it is
   * the one waiting.
   */
  committed?: { end: number; list: FindList };
}

export interface MergeResult {
  /** end of the window whose finds were merged */
  end: number;
  /** finds in the list */
  finds: number;
  /** buckets written by this call */
  buckets: number;
  /** false: another worker finished this list first (this call stopped when it saw that) */
  byUs: boolean;
}

/** Merges the hunt's merge list, if there is one, into its player buckets; undefined when there was none. */
export async function mergeWindowFinds(redis: Redis, keys: RedisKeys, scripts: WorkerScripts, hunt: string, opts: MergeOptions = {}): Promise<MergeResult | undefined> {
  const waiting = opts.committed ?? (await readList(redis, keys, hunt));
  if (!waiting) return undefined;
  const { end, list } = waiting;
  const groups = findsByBucket(list);
  const key = keys.players(hunt);
  // A hunt with no bucket yet (its first finds) has nothing to read; nothing can create
  // one meanwhile but a merge of this same list.
  const anyStored = groups.length <= 64 || (await redis.exists(key)) === 1;
  const chunk = opts.chunk ?? MERGE_CHUNK_BUCKETS;
  let written = 0;
  do {
    const part = groups.slice(written, written + chunk);
    const stored = new Map<string, string | null>();
    if (anyStored) {
      const names = part.map(([b]) => b);
      const values = await hmgetChunked(redis, key, names);
      names.forEach((b, i) => stored.set(b, values[i] ?? null));
    }
    const fields = mergedBuckets(list, part, stored);
    const last = written + part.length >= groups.length;
    if (!(await scripts.mergePlayers(redis, keys, hunt, end, fields, last))) return { end, finds: list.p.length, buckets: written, byUs: false };
    written += part.length;
    await opts.afterChunk?.(written, groups.length);
  } while (written < groups.length);
  return { end, finds: list.p.length, buckets: written, byUs: true };
}

/** The merge list waiting, if any, and the end of its window. */
async function readList(redis: Redis, keys: RedisKeys, hunt: string): Promise<{ end: number; list: FindList } | undefined> {
  const res = await redis.multi().hget(keys.merge(hunt), 'end').get(keys.mergeList(hunt)).exec();
  const endRaw = (res?.[0]?.[1] ?? null) as string | null;
  const json = (res?.[1]?.[1] ?? null) as string | null;
  if (endRaw === null && json === null) return undefined;
  const end = Number(endRaw);
  if (json === null || !Number.isSafeInteger(end)) {
    throw new Error(`merge of hunt ${hunt}: marker ${JSON.stringify(endRaw)} and list ${json === null ? 'missing' : 'present'} (both or neither expected)`);
  }
  return { end, list: parseFindList(hunt, json) };
}
