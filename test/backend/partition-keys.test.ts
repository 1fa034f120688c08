/**
 * Placement of parts over the hash key space: by their own idempotency key, so any shard
 * layout gets load in proportion to the width of its ranges, and the lookup of a part's
 * shard agrees with where Kinesis itself puts its hash key.
 */
import { describe, expect, it } from 'vitest';
import { bucketHashKey, bucketPartitionKey, HASH_KEY_SPACE, partBucket, ShardLayout, type ShardRange } from '../../backend/kinesis/partition-keys.js';
import { recordKey } from '../../backend/kinesis/record-format.js';

/** Ranges from boundaries (fractions of the key space), as a split or merge leaves them. */
function layout(cuts: bigint[]): ShardRange[] {
  const edges = [0n, ...cuts, HASH_KEY_SPACE];
  return edges.slice(0, -1).map((start, i) => ({ shardId: `s${i}`, start: start.toString(), end: (edges[i + 1]! - 1n).toString() }));
}

/** Where Kinesis puts a hash key: the open shard whose range holds it. */
function kinesisShard(ranges: ShardRange[], key: string): number {
  const k = BigInt(key);
  return ranges.findIndex((r) => BigInt(r.start) <= k && k <= BigInt(r.end));
}

const parts = (n: number) => Array.from({ length: n }, (_, i) => recordKey({ s: `srv-${i % 20}`, e: 1764331200000 + (i % 3), q: 1 + Math.floor(i / 60), pt: i % 3 }));

describe('part placement', () => {
  it('gives every part a hash key inside the key space, the same for the same part', () => {
    for (const key of parts(1000)) {
      const vb = partBucket(key);
      expect(partBucket(key)).toBe(vb);
      const h = BigInt(bucketHashKey(vb));
      expect(h >= 0n && h < HASH_KEY_SPACE).toBe(true);
      expect(bucketPartitionKey(vb)).toMatch(/^[0-9a-f]{8}$/);
    }
    expect(BigInt(bucketHashKey(0))).toBe(1n << 95n);
    expect(BigInt(bucketHashKey(0xffffffff))).toBe(HASH_KEY_SPACE - (1n << 95n));
  });

  it('loads any layout in proportion to its ranges: uniform, a split at an odd key, a merge', () => {
    const keys = parts(120_000);
    const q = HASH_KEY_SPACE / 4n;
    const layouts = {
      uniform4: ShardLayout.uniform(4).shards.map((s) => s),
      // shard 0 of 2 split at a third of its range: widths 1/6, 1/3, 1/2
      splitOdd: layout([HASH_KEY_SPACE / 6n, HASH_KEY_SPACE / 2n]),
      // 4 shards, the middle two merged: widths 1/4, 1/2, 1/4
      merged: layout([q, 3n * q]),
    };
    for (const [name, ranges] of Object.entries(layouts)) {
      const counts = new Array<number>(ranges.length).fill(0);
      for (const k of keys) counts[kinesisShard(ranges, bucketHashKey(partBucket(k)))]!++;
      ranges.forEach((r, i) => {
        const share = Number(((BigInt(r.end) - BigInt(r.start) + 1n) * 1_000_000n) / HASH_KEY_SPACE) / 1_000_000;
        expect(Math.abs(counts[i]! / keys.length - share), `${name} shard ${i}`).toBeLessThan(0.01);
      });
    }
  });

  it("finds a part's shard where Kinesis puts its hash key, at and around every boundary", () => {
    const ranges = layout([HASH_KEY_SPACE / 3n, HASH_KEY_SPACE / 3n + 1n, (HASH_KEY_SPACE * 7n) / 10n]);
    const l = new ShardLayout([...ranges].reverse());
    const probe = (vb: number) => expect(l.shards[l.shardOf(vb)]!.shardId, `vbucket ${vb}`).toBe(ranges[kinesisShard(ranges, bucketHashKey(vb))]!.shardId);
    for (const cut of [HASH_KEY_SPACE / 3n, (HASH_KEY_SPACE * 7n) / 10n]) {
      const vb = Number(cut >> 96n);
      for (let d = -2; d <= 2; d++) probe(vb + d);
    }
    for (const vb of [0, 1, 0xfffffffe, 0xffffffff]) probe(vb);
    for (const k of parts(2000)) probe(partBucket(k));
  });

  it('tells a changed layout from the same one', () => {
    expect(ShardLayout.uniform(2).equals(ShardLayout.uniform(2))).toBe(true);
    expect(ShardLayout.uniform(2).equals(ShardLayout.uniform(3))).toBe(false);
    expect(() => new ShardLayout([])).toThrow(RangeError);
  });
});
