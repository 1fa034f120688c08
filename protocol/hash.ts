/**
 * FNV-1a (32-bit) over a string's UTF-16 code units: fast, stable across versions and
 * well spread for short ids. Used where a value must map to the same bucket forever
 * (player buckets of stored hunt state, partition buckets of Kinesis records, shard
 * order of leases), so it must never change.
 * http://www.isthe.com/chongo/tech/comp/fnv/index.html
 */
export function fnv1a(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
