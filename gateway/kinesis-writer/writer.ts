/**
 * Puts user records into Kinesis with PutRecords, aggregated in the KPL format
 * (backend/kinesis/kpl-aggregation.ts), and resolves each write once every one of its
 * user records is in an accepted Kinesis record.
 *
 * The concerns live beside this file: the sink (sink.ts), options and defaults
 * (options.ts), the queue and how a call is packed, linger included (packing.ts), quota
 * pacing and the throttle slow-down (pacing.ts), retries and settlement (retries.ts),
 * error classes (errors.ts). This file schedules calls: at most `maxPutsInFlight` at
 * once (p-queue), one waiting for a slot once records may go.
 *
 * Splitting by player bucket cuts each batch into one user record per bucket; the linger
 * lets the batches a plugin sends together (a flush above 500 events is several
 * batches), and those of other servers arriving meanwhile, share aggregates instead of
 * each taking a record per bucket.
 */
import PQueue from 'p-queue';
import { KINESIS_MAX_RECORD_BYTES } from '../../protocol/limits.js';
import type { PartitionScheme } from '../../backend/kinesis/partition-keys.js';
import type { UserRecord } from '../batch-records.js';
import type { GatewayMetrics } from '../metrics.js';
import { KinesisWriteError } from './errors.js';
import { resolveWriterOptions, type KinesisWriterOptions } from './options.js';
import { Pacer } from './pacing.js';
import { RecordPacker } from './packing.js';
import { PutRetrier, type Entry, type Job } from './retries.js';

export class KinesisWriter {
  readonly metrics: GatewayMetrics;
  readonly scheme: PartitionScheme;
  readonly recordTargetBytes: number;
  private readonly queue: PQueue;
  private readonly packer: RecordPacker<Entry>;
  private readonly retrier: PutRetrier;
  private readonly lingerMs: number;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** drain() calls in progress: while any is, nothing lingers. */
  private draining = 0;

  constructor(options: KinesisWriterOptions) {
    const o = resolveWriterOptions(options);
    this.metrics = o.metrics;
    this.scheme = o.scheme;
    this.recordTargetBytes = o.recordTargetBytes;
    this.lingerMs = o.lingerMs;
    this.queue = new PQueue({ concurrency: o.maxPutsInFlight });
    const packer = new RecordPacker<Entry>(o.scheme, o.recordTargetBytes, o.maxRecordsPerPut, o.maxBytesPerPut);
    this.packer = packer;
    this.retrier = new PutRetrier({
      sink: o.sink,
      stream: o.stream,
      scheme: o.scheme,
      metrics: o.metrics,
      pacer: new Pacer(o.rates, o.maxBytesPerPut, o.baseDelayMs, o.maxDelayMs),
      putSize: (p) => packer.putSize(p),
      baseDelayMs: o.baseDelayMs,
      maxDelayMs: o.maxDelayMs,
      maxAttempts: o.maxAttempts,
      random: o.random,
    });
  }

  /**
   * Resolves when every user record is in a Kinesis record Kinesis accepted; rejects with
   * KinesisWriteError when one cannot be.
   */
  write(records: readonly UserRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    for (const r of records) {
      if (!(r.bucket >= 0 && r.bucket < this.scheme.buckets)) {
        return Promise.reject(new RangeError(`user record ${r.key}: bucket ${r.bucket} outside 0..${this.scheme.buckets - 1} of this writer's partition scheme`));
      }
      const size = this.packer.aloneSize(r);
      if (size > KINESIS_MAX_RECORD_BYTES) {
        return Promise.reject(new KinesisWriteError(`user record ${r.key} makes a Kinesis record of ${size} bytes, over Kinesis's ${KINESIS_MAX_RECORD_BYTES}-byte limit`, 'RecordTooLarge'));
      }
    }
    return new Promise<void>((resolve, reject) => {
      const job: Job = { remaining: records.length, settled: false, resolve, reject };
      const at = performance.now();
      for (const rec of records) this.packer.push({ rec, job, at });
      this.schedule();
    });
  }

  /** User records queued and not yet taken by a call. */
  get queued(): number {
    return this.packer.size;
  }

  /** Puts what is queued without lingering, and waits until every record is settled (accepted or failed). */
  async drain(): Promise<void> {
    this.draining++;
    try {
      for (;;) {
        this.schedule();
        if (this.packer.size === 0 && this.queue.size === 0 && this.queue.pending === 0) return;
        await this.queue.onIdle();
      }
    } finally {
      this.draining--;
    }
  }

  /**
   * Keeps one call waiting for a slot once records may go (the oldest has lingered, or a
   * full record is ready); it takes what is queued when it starts.
   */
  private schedule(): void {
    if (this.packer.size === 0 || this.queue.size > 0) return;
    const wait = this.draining > 0 ? 0 : this.packer.lingerLeft(this.lingerMs, performance.now());
    if (wait <= 0) {
      if (this.lingerTimer) clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
      void this.queue.add(() => this.runCall());
      return;
    }
    this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      this.schedule();
    }, Math.ceil(wait));
  }

  private async runCall(): Promise<void> {
    const puts = this.packer.take();
    this.schedule();
    if (puts.length === 0) return;
    await this.retrier.put(puts);
  }
}
