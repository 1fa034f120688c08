/**
 * The queues of user records waiting for a PutRecords call, one per open shard of the
 * writer's view of the stream, and how a call is packed.
 *
 * - A user record goes to the shard its hash key falls in (backend/kinesis/partition-keys.ts:
 *   each part is placed by its own idempotency key). When the view changes (a split, a
 *   merge), what is queued is filed again under the new shards.
 * - Adaptive linger (Nagle's algorithm, RFC 896, per shard): a shard's records go as soon
 *   as no call carrying records of that shard is in flight, so an idle pipeline sends at
 *   once. While one is in flight they wait for it to come back, and gather what arrives
 *   meanwhile into fuller aggregates, unless a full record's worth is queued or the
 *   oldest has waited `lingerMs` (the bound on the wait; 0 never waits).
 * - Aggregation happens when a call starts: it takes the queued user records of every
 *   shard that may go, in queue order, into aggregated records of up to
 *   `recordTargetBytes` (data + partition key). A record holds the user records of one
 *   shard of the view, each under the record's own partition and hash key (those of its
 *   first part), so a KCL consumer, which drops user records whose hash key lies outside
 *   its shard, never drops one.
 * - Kinesis's call limits hold here (kinesalite does not enforce them all): 500 records
 *   and 5 MiB, partition keys included, per call.
 */
import { AggregateBuilder } from '../../backend/kinesis/kpl-aggregation.js';
import { bucketHashKey, bucketPartitionKey, ShardLayout } from '../../backend/kinesis/partition-keys.js';
import type { UserRecord } from '../batch-records.js';

/**
 * The most a user record's Kinesis record (alone in its aggregate) adds to its data: magic
 * and MD5 (20), the partition key table entry (10: 8 hex digits) and the hash key's (41:
 * up to 39 digits), the record's tags, lengths and indexes (at most 13 for 1 MiB), and the
 * outer partition key (8). Rounded up; a record smaller than the limit by this much fits.
 */
export const ALONE_OVERHEAD_MAX = 128;

/** A queued user record; `at` is performance.now() when it was queued, `vb` its virtual bucket (partBucket of its key). */
export interface Queued {
  rec: UserRecord;
  at: number;
  vb: number;
}

/** One Kinesis record of a call: an aggregate of user records of one shard. */
export interface Put<E extends Queued> {
  partitionKey: string;
  explicitHashKey: string;
  entries: E[];
  builder: AggregateBuilder;
  /** Built when the call is made; a retry resends the same bytes. */
  data: Buffer | undefined;
}

/** What one call took: its records, and the shards it keeps busy until done(). */
export interface Call<E extends Queued> {
  puts: Put<E>[];
  shards: number[];
  generation: number;
}

interface ShardQueue<E> {
  entries: E[];
  bytes: number;
  inFlight: number;
}

export class RecordPacker<E extends Queued> {
  private layout: ShardLayout;
  private queues: ShardQueue<E>[];
  /** Bumped by relayout(): calls of an older layout no longer mark shards busy. */
  private generation = 0;
  private queued = 0;

  constructor(
    layout: ShardLayout,
    private readonly recordTargetBytes: number,
    private readonly maxRecords: number,
    private readonly maxBytes: number,
  ) {
    this.layout = layout;
    this.queues = this.emptyQueues();
  }

  get size(): number {
    return this.queued;
  }

  get shardCount(): number {
    return this.layout.count;
  }

  push(e: E): void {
    const q = this.queues[this.layout.shardOf(e.vb)]!;
    q.entries.push(e);
    q.bytes += e.rec.data.length;
    this.queued++;
  }

  /** The stream's open shards changed: what is queued is filed under the new ones. Returns false when nothing changed. */
  relayout(layout: ShardLayout): boolean {
    if (layout.equals(this.layout)) return false;
    const all = this.queues.flatMap((q) => q.entries).sort((a, b) => a.at - b.at);
    this.layout = layout;
    this.queues = this.emptyQueues();
    this.generation++;
    this.queued = 0;
    for (const e of all) this.push(e);
    return true;
  }

  /** Milliseconds until some shard's records may go: 0 now, Infinity when nothing is queued. */
  readyIn(lingerMs: number, now: number, draining: boolean): number {
    let wait = Infinity;
    for (const q of this.queues) {
      if (q.entries.length === 0) continue;
      const w = this.waitOf(q, lingerMs, now, draining);
      if (w <= 0) return 0;
      if (w < wait) wait = w;
    }
    return wait;
  }

  private waitOf(q: ShardQueue<E>, lingerMs: number, now: number, draining: boolean): number {
    if (draining || q.inFlight === 0 || q.bytes >= this.recordTargetBytes) return 0;
    return q.entries[0]!.at + lingerMs - now;
  }

  /** What `r` alone makes as a Kinesis record: data plus partition key (at most its data + ALONE_OVERHEAD_MAX). */
  aloneSize(r: Queued): number {
    const alone = new AggregateBuilder();
    const pk = bucketPartitionKey(r.vb);
    return alone.size + alone.growth({ partitionKey: pk, explicitHashKey: bucketHashKey(r.vb), data: r.rec.data }) + pk.length;
  }

  /** What a Kinesis record counts against the record and call limits: data + partition key (ASCII). */
  putSize(p: Put<E>): number {
    return p.builder.size + p.partitionKey.length;
  }

  /**
   * Takes the queued user records of every shard that may go, oldest shard first, into
   * the Kinesis records of one call: each shard's records fill one aggregate up to the
   * target, then the next. Stops at the call limits; what is left waits for the next
   * call. The shards taken from are busy until done(call).
   */
  take(lingerMs: number, now: number, draining: boolean): Call<E> {
    const ready: number[] = [];
    this.queues.forEach((q, s) => {
      if (q.entries.length > 0 && this.waitOf(q, lingerMs, now, draining) <= 0) ready.push(s);
    });
    ready.sort((a, b) => this.queues[a]!.entries[0]!.at - this.queues[b]!.entries[0]!.at);
    const puts: Put<E>[] = [];
    const shards: number[] = [];
    let bytes = 0;
    let limit = false;
    for (const s of ready) {
      const q = this.queues[s]!;
      let p: Put<E> | undefined;
      let i = 0;
      for (; i < q.entries.length; i++) {
        const e = q.entries[i]!;
        if (p) {
          const grow = p.builder.growth(this.userRecord(p, e));
          if (this.putSize(p) + grow <= this.recordTargetBytes) {
            if (bytes + grow > this.maxBytes) {
              limit = true;
              break;
            }
            p.builder.add(this.userRecord(p, e), grow);
            p.entries.push(e);
            bytes += grow;
            continue;
          }
        }
        if (puts.length >= this.maxRecords) {
          limit = true;
          break;
        }
        const builder = new AggregateBuilder();
        const next: Put<E> = { partitionKey: bucketPartitionKey(e.vb), explicitHashKey: bucketHashKey(e.vb), entries: [e], builder, data: undefined };
        builder.add(this.userRecord(next, e));
        const size = this.putSize(next);
        if (puts.length > 0 && bytes + size > this.maxBytes) {
          limit = true;
          break;
        }
        puts.push(next);
        p = next;
        bytes += size;
      }
      if (i > 0) {
        for (let j = 0; j < i; j++) q.bytes -= q.entries[j]!.rec.data.length;
        q.entries = q.entries.slice(i);
        this.queued -= i;
        q.inFlight++;
        shards.push(s);
      }
      if (limit) break;
    }
    return { puts, shards, generation: this.generation };
  }

  /** A call came back (accepted, failed or given up): its shards may send again. */
  done(call: Call<E>): void {
    if (call.generation !== this.generation) return;
    for (const s of call.shards) this.queues[s]!.inFlight--;
  }

  private userRecord(p: Put<E>, e: E): { partitionKey: string; explicitHashKey: string; data: Buffer } {
    return { partitionKey: p.partitionKey, explicitHashKey: p.explicitHashKey, data: e.rec.data };
  }

  private emptyQueues(): ShardQueue<E>[] {
    return Array.from({ length: this.layout.count }, () => ({ entries: [], bytes: 0, inFlight: 0 }));
  }
}
