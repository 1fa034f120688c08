/**
 * Where events go in the stream. Events are grouped into partition buckets; buckets
 * are fixed slices of Kinesis's 128-bit hash key space, addressed with ExplicitHashKey,
 * so with as many buckets as shards (the default when the shard count is known) every
 * shard gets exactly one bucket and load spreads over shards as evenly as ids hash.
 *
 * - join, leave, enter, start, stop: the bucket of the player id `p` (FNV-1a), so all of
 *   a player's discrete events land on one shard (one KCL consumer), in order within a
 *   user record.
 * - a batch's moves block (its deltas, protocol 2), rules and heartbeats (no player): the
 *   bucket of the server id (gateway/batch-records.ts), so a server's blocks are on one
 *   shard, in seq order.
 * - delta (a single delta event, as protocol 1 sent them; kept for tools): the bucket of
 *   (server, session index `i`).
 *
 * The bucket depends on the event alone, never on what this gateway has seen before:
 * a batch resent to another connection or gateway instance must split into the very same
 * parts, or the worker, which counts parts per batch, could complete a batch from parts
 * of two different splits and miss events. (Deltas cannot follow their player's id
 * without per-connection memory of joins, which a resend to another instance lacks.)
 *
 * Order across user records is given by the (epoch, seq, part) key each carries:
 * PutRecords itself does not promise order (AWS Kinesis API reference, PutRecords).
 */
import { fnv1a, type WireEvent } from '../../protocol/index.js';

/** 2^128: Kinesis hash keys are in [0, 2^128 - 1] (AWS Kinesis API reference, HashKeyRange). */
const HASH_KEY_SPACE = 1n << 128n;
/** A bound against misconfiguration: a stream's shards are limited by the account's shard quota (500 or 200 by default, AWS Kinesis quotas), far below this. */
export const MAX_PARTITION_BUCKETS = 10_000;


export class PartitionScheme {
  /** Partition key of each bucket (also every user record's partition key). */
  readonly keys: readonly string[];
  /** ExplicitHashKey of each bucket: the middle of its slice of the hash key space. */
  readonly hashKeys: readonly string[];

  constructor(readonly buckets: number) {
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_PARTITION_BUCKETS) {
      throw new RangeError(`partitionBuckets=${buckets}: must be an integer from 1 to ${MAX_PARTITION_BUCKETS}`);
    }
    const n = BigInt(buckets);
    this.keys = Array.from({ length: buckets }, (_, b) => `b${b}`);
    this.hashKeys = Array.from({ length: buckets }, (_, b) => ((HASH_KEY_SPACE * BigInt(2 * b + 1)) / (2n * n)).toString());
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

/** Mixes a session index into its server's hash (murmur3's 32-bit finalizer): deltas are most events, so no string is built per delta. */
function sessionHash(serverHash: number, i: number): number {
  let h = (serverHash ^ Math.imul(i | 0, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The bucket of each event of one server: a function of the event and the server only. */
export function bucketer(server: string, scheme: PartitionScheme): (ev: WireEvent) => number {
  const sessions = fnv1a(`session:${server}`);
  const own = scheme.ofServer(server);
  const n = scheme.buckets;
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
