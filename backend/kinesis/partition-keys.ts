/**
 * Where user records go in the stream.
 *
 * Every user record (a "part" of a batch) is placed by what identifies it, its
 * idempotency key server/epoch/seq/part: the key hashes to one of 2^32 virtual buckets,
 * and each virtual bucket is a fixed point of Kinesis's 128-bit hash key space (the
 * middle of its 1/2^32 slice), sent as the ExplicitHashKey. Parts therefore cover the
 * whole key space evenly, and any shard layout (a split at any key, a merge,
 * UpdateShardCount) receives load in proportion to the width of each shard's hash key
 * range, with no setting to keep in step with the stream.
 *
 * How a batch splits into parts is a function of the batch alone (gateway/batch-records.ts,
 * through PARTITION_SCHEME): a batch resent to another connection or gateway instance
 * splits into the very same parts, so the worker, which counts parts per batch, never
 * completes a batch from parts of two different splits. The scheme has one group: the
 * worker needs no player on one shard (it files every event by event time and applies a
 * watermark only once a batch and every earlier one are complete), so grouping by player
 * would only cut a batch into more, smaller parts. Order across parts is given by the
 * (epoch, seq, part) key each carries: PutRecords itself does not promise order (AWS
 * Kinesis API reference, PutRecords).
 *
 * The writer packs the parts that fall in one shard of its current view of the open
 * shards (ShardLayout, refreshed from ListShards) into one KPL aggregate, placed by the
 * hash key of its first part. Every user record inside an aggregate carries the
 * aggregate's own partition and hash key, so a KCL consumer, which drops user records
 * whose hash key lies outside the shard it reads, keeps them all even when the view was
 * stale and the aggregate landed in a sibling of the shard it was packed for.
 */
import { fnv1a, type WireEvent } from '../../protocol/index.js';

/** 2^128: Kinesis hash keys are in [0, 2^128 - 1] (AWS Kinesis API reference, HashKeyRange). */
export const HASH_KEY_SPACE = 1n << 128n;
/** Virtual buckets: 2^32, one per 32-bit hash; bucket v covers [v, v + 1) * 2^96 of the key space. */
const VBUCKET_SHIFT = 96n;
const VBUCKET_COUNT = 2 ** 32;
/** The longest hash key: 2^128 - 1 has 39 decimal digits. */
const WIDEST_HASH_KEY = (HASH_KEY_SPACE - 1n).toString();
/** Partition keys are the virtual bucket in 8 hex digits. */
const WIDEST_PARTITION_KEY = 'ffffffff';

/** Upper bound of a test scheme's group count. */
export const MAX_PARTITION_BUCKETS = 10_000;

/** murmur3's 32-bit finalizer: FNV-1a alone leaves the high bits weakly mixed for keys that differ in their last characters (seq, part). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The virtual bucket of a part, from its idempotency key (record-format.ts recordKey). */
export function partBucket(partKey: string): number {
  return fmix32(fnv1a(partKey));
}

/** The ExplicitHashKey of a virtual bucket: the middle of its slice, so no rounding puts it on a shard boundary. */
export function bucketHashKey(vbucket: number): string {
  return ((BigInt(vbucket) << VBUCKET_SHIFT) + (1n << (VBUCKET_SHIFT - 1n))).toString();
}

/** The partition key sent with a virtual bucket's records (Kinesis requires one; the hash key overrides it). */
export function bucketPartitionKey(vbucket: number): string {
  return vbucket.toString(16).padStart(8, '0');
}

/** The first virtual bucket whose hash key is >= `key` (VBUCKET_COUNT when none is). */
function firstBucketAtOrAbove(key: bigint): number {
  const half = 1n << (VBUCKET_SHIFT - 1n);
  if (key <= half) return 0;
  const v = (key - half + (1n << VBUCKET_SHIFT) - 1n) >> VBUCKET_SHIFT;
  return v >= BigInt(VBUCKET_COUNT) ? VBUCKET_COUNT : Number(v);
}

/** An open shard's hash key range, as ListShards reports it (decimal strings). */
export interface ShardRange {
  shardId: string;
  start: string;
  end: string;
}

/**
 * A view of the stream's open shards: which one a virtual bucket's hash key falls in.
 * Built from ListShards (closed shards, those with an ending sequence number, left out
 * by the caller) or, without one, as `uniform(n)`; `whole()` is one range over
 * everything, for a writer that knows no layout.
 */
export class ShardLayout {
  /** Open shards in hash key order. */
  readonly shards: readonly ShardRange[];
  /** Per shard (same order): its first virtual bucket. */
  private readonly firsts: Float64Array;

  constructor(shards: readonly ShardRange[]) {
    if (shards.length === 0) throw new RangeError('a shard layout needs at least one open shard');
    this.shards = [...shards].sort((a, b) => (BigInt(a.start) < BigInt(b.start) ? -1 : BigInt(a.start) > BigInt(b.start) ? 1 : 0));
    this.firsts = Float64Array.from(this.shards, (s) => firstBucketAtOrAbove(BigInt(s.start)));
  }

  static whole(): ShardLayout {
    return ShardLayout.uniform(1);
  }

  /** `n` shards over equal slices of the key space, as CreateStream and UpdateShardCount (UNIFORM_SCALING) lay them out. */
  static uniform(n: number): ShardLayout {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`shardCount=${n}: must be a positive integer`);
    const N = BigInt(n);
    return new ShardLayout(
      Array.from({ length: n }, (_, i) => ({
        shardId: `uniform-${i}`,
        start: ((HASH_KEY_SPACE * BigInt(i)) / N).toString(),
        end: ((HASH_KEY_SPACE * BigInt(i + 1)) / N - 1n).toString(),
      })),
    );
  }

  get count(): number {
    return this.shards.length;
  }

  /** Index (in `shards`) of the shard holding a virtual bucket: the last one starting at or below it. */
  shardOf(vbucket: number): number {
    const f = this.firsts;
    let lo = 0;
    let hi = f.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (f[mid]! <= vbucket) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Same open shards, same ranges. */
  equals(other: ShardLayout): boolean {
    return this.shards.length === other.shards.length && this.shards.every((s, i) => s.shardId === other.shards[i]!.shardId && s.start === other.shards[i]!.start && s.end === other.shards[i]!.end);
  }
}

/**
 * How a batch's events group into parts before parts are cut to size. The gateway uses
 * PARTITION_SCHEME (one group); other bucket counts exist for tests of the split itself.
 * `keys` and `hashKeys` hold, per group, the widest partition and hash key a Kinesis
 * record can carry, which is what a part's size budget must leave room for.
 */
export class PartitionScheme {
  readonly keys: readonly string[];
  readonly hashKeys: readonly string[];

  constructor(readonly buckets: number = 1) {
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_PARTITION_BUCKETS) {
      throw new RangeError(`partitionBuckets=${buckets}: must be an integer from 1 to ${MAX_PARTITION_BUCKETS}`);
    }
    this.keys = Array.from({ length: buckets }, () => WIDEST_PARTITION_KEY);
    this.hashKeys = Array.from({ length: buckets }, () => WIDEST_HASH_KEY);
  }

  ofPlayer(player: string): number {
    return fnv1a(player) % this.buckets;
  }

  ofServer(server: string): number {
    return fnv1a(`server:${server}`) % this.buckets;
  }

  ofSession(server: string, i: number): number {
    return sessionHash(fnv1a(`session:${server}`), i) % this.buckets;
  }
}

/** The scheme every gateway uses: fixed, so a batch splits alike on every gateway whatever its settings. */
export const PARTITION_SCHEME = new PartitionScheme(1);

/** Mixes a session index into its server's hash: deltas are most events, so no string is built per delta. */
function sessionHash(serverHash: number, i: number): number {
  return fmix32((serverHash ^ Math.imul(i | 0, 0x9e3779b1)) >>> 0);
}

/** The group of each event of one server: a function of the event and the server only. */
export function bucketer(server: string, scheme: PartitionScheme): (ev: WireEvent) => number {
  const n = scheme.buckets;
  if (n === 1) return () => 0;
  const sessions = fnv1a(`session:${server}`);
  const own = scheme.ofServer(server);
  return (ev) => {
    switch (ev.k) {
      case 'delta':
        return sessionHash(sessions, ev.i) % n;
      case 'rules':
        return own;
      default:
        return fnv1a(ev.p) % n;
    }
  };
}
