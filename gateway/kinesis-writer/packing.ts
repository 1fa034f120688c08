/**
 * The queue of user records waiting for a PutRecords call, and how a call is packed.
 *
 * - Aggregation happens when a call starts: it takes the queued user records (from many
 *   connections and pipelined batches) and packs those of each partition bucket, in
 *   queue order, into aggregated records of up to `recordTargetBytes` (data + partition
 *   key). A record holds one bucket only, so its user records and its ExplicitHashKey
 *   always agree on the shard (a KCL consumer drops user records whose hash key is
 *   outside its shard).
 * - A call may start once the oldest queued record has waited `lingerMs` (Kafka's
 *   linger.ms), or at once when a bucket has a full record's worth queued.
 * - Kinesis's call limits hold here (kinesalite does not enforce them all): 500 records
 *   and 5 MiB, partition keys included, per call.
 */
import { AggregateBuilder } from '../../backend/kinesis/kpl-aggregation.js';
import type { PartitionScheme } from '../../backend/kinesis/partition-keys.js';
import type { UserRecord } from '../batch-records.js';

/** A queued user record; `at` is performance.now() when it was queued. */
export interface Queued {
  rec: UserRecord;
  at: number;
}

/** One Kinesis record of a call: an aggregate of user records of one bucket. */
export interface Put<E extends Queued> {
  bucket: number;
  entries: E[];
  builder: AggregateBuilder;
  /** Built when the call is made; a retry resends the same bytes. */
  data: Buffer | undefined;
}

export class RecordPacker<E extends Queued> {
  private pending: E[] = [];
  /** Per bucket: data bytes of its queued user records. */
  private readonly queuedBytes: Float64Array;
  /** Buckets with a full record's worth queued. */
  private full = 0;

  constructor(
    readonly scheme: PartitionScheme,
    private readonly recordTargetBytes: number,
    private readonly maxRecords: number,
    private readonly maxBytes: number,
  ) {
    this.queuedBytes = new Float64Array(scheme.buckets);
  }

  get size(): number {
    return this.pending.length;
  }

  push(e: E): void {
    this.pending.push(e);
    this.track(e.rec, 1);
  }

  /** Milliseconds until a call should take what is queued: 0 now, Infinity when nothing is queued. */
  lingerLeft(lingerMs: number, now: number): number {
    if (this.pending.length === 0) return Infinity;
    if (this.full > 0) return 0;
    return Math.max(0, this.pending[0]!.at + lingerMs - now);
  }

  /** What `r` alone makes as a Kinesis record: data plus partition key. */
  aloneSize(r: UserRecord): number {
    const alone = new AggregateBuilder();
    return alone.size + alone.growth(this.userRecord(r)) + this.pkBytes(r.bucket);
  }

  /** What a Kinesis record counts against the record and call limits: data + partition key. */
  putSize(p: Put<E>): number {
    return p.builder.size + this.pkBytes(p.bucket);
  }

  /**
   * Takes queued user records, in order, into the Kinesis records of one call: each
   * bucket's records fill one aggregate up to the target, then the next. Stops at the
   * call limits; what is left waits for the next call.
   */
  take(): Put<E>[] {
    const pending = this.pending;
    const open = new Map<number, Put<E>>();
    const puts: Put<E>[] = [];
    let bytes = 0;
    let i = 0;
    for (; i < pending.length; i++) {
      const e = pending[i]!;
      const b = e.rec.bucket;
      const ur = this.userRecord(e.rec);
      let p = open.get(b);
      if (p) {
        const grow = p.builder.growth(ur);
        if (this.putSize(p) + grow <= this.recordTargetBytes) {
          if (bytes + grow > this.maxBytes) break;
          p.builder.add(ur, grow);
          p.entries.push(e);
          bytes += grow;
          this.track(e.rec, -1);
          continue;
        }
        open.delete(b); // full: later records of this bucket start a new aggregate
      }
      if (puts.length >= this.maxRecords) break;
      const builder = new AggregateBuilder();
      builder.add(ur);
      p = { bucket: b, entries: [e], builder, data: undefined };
      const size = this.putSize(p);
      if (puts.length > 0 && bytes + size > this.maxBytes) break;
      puts.push(p);
      open.set(b, p);
      bytes += size;
      this.track(e.rec, -1);
    }
    this.pending = pending.slice(i);
    return puts;
  }

  private track(rec: UserRecord, sign: 1 | -1): void {
    const b = rec.bucket;
    const wasFull = this.queuedBytes[b]! >= this.recordTargetBytes;
    this.queuedBytes[b]! += sign * rec.data.length;
    const isFull = this.queuedBytes[b]! >= this.recordTargetBytes;
    if (isFull !== wasFull) this.full += isFull ? 1 : -1;
  }

  private userRecord(r: UserRecord): { partitionKey: string; explicitHashKey: string; data: Buffer } {
    return { partitionKey: this.scheme.keys[r.bucket]!, explicitHashKey: this.scheme.hashKeys[r.bucket]!, data: r.data };
  }

  private pkBytes(bucket: number): number {
    return this.scheme.keys[bucket]!.length; // bucket keys are ASCII
  }
}
