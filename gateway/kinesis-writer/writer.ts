/**
 * Puts user records into Kinesis with PutRecords, aggregated in the KPL format
 * (backend/kinesis/kpl-aggregation.ts), and resolves each write once every one of its
 * user records is in an accepted Kinesis record.
 *
 * The concerns live beside this file: the sink (sink.ts), options and defaults
 * (options.ts), the queue and how a call is packed, linger included (packing.ts), quota
 * pacing and the throttle slow-down (pacing.ts), retries and settlement (retries.ts),
 * error classes (errors.ts). This file schedules calls (at most `maxPutsInFlight` at
 * once, p-queue, one waiting for a slot once records may go) and keeps the view of the
 * stream's open shards fresh (listShards every shardRefreshMs), so packing and pacing
 * follow a split, a merge or UpdateShardCount within seconds, with no restart.
 */
import PQueue from 'p-queue';
import { logger } from '../../common/log.js';
import { KINESIS_MAX_RECORD_BYTES } from '../../protocol/limits.js';
import { PARTITION_SCHEME, partBucket, ShardLayout, type PartitionScheme } from '../../backend/kinesis/partition-keys.js';
import type { UserRecord } from '../batch-records.js';
import type { GatewayMetrics } from '../metrics.js';
import { KinesisWriteError } from './errors.js';
import { resolveWriterOptions, type KinesisWriterOptions } from './options.js';
import { Pacer } from './pacing.js';
import { ALONE_OVERHEAD_MAX, RecordPacker } from './packing.js';
import { PutRetrier, type Entry, type Job } from './retries.js';

const log = logger('gateway');

export class KinesisWriter {
  readonly metrics: GatewayMetrics;
  /** How batches split into parts: the same on every gateway (partition-keys.ts). */
  readonly scheme: PartitionScheme = PARTITION_SCHEME;
  readonly recordTargetBytes: number;
  private readonly queue: PQueue;
  private readonly packer: RecordPacker<Entry>;
  private readonly pacer: Pacer;
  private readonly retrier: PutRetrier;
  private readonly lingerMs: number;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** drain() calls in progress: while any is, nothing lingers. */
  private draining = 0;
  private readonly listShards: KinesisWriterOptions['listShards'];
  private readonly shardRefreshMs: number;
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private closed = false;
  private listed = false;
  private view: ShardLayout;

  constructor(options: KinesisWriterOptions) {
    const o = resolveWriterOptions(options);
    this.metrics = o.metrics;
    this.recordTargetBytes = o.recordTargetBytes;
    this.lingerMs = o.lingerMs;
    this.queue = new PQueue({ concurrency: o.maxPutsInFlight });
    this.view = o.layout;
    const packer = new RecordPacker<Entry>(o.layout, o.recordTargetBytes, o.maxRecordsPerPut, o.maxBytesPerPut);
    this.packer = packer;
    this.pacer = new Pacer(o.perShard, o.maxBytesPerPut, o.baseDelayMs, o.maxDelayMs);
    if (o.layoutKnown) {
      this.pacer.setShards(o.layout.count);
      this.metrics.shardsViewed(o.layout.count, false);
    }
    this.retrier = new PutRetrier({
      sink: o.sink,
      stream: o.stream,
      metrics: o.metrics,
      pacer: this.pacer,
      putSize: (p) => packer.putSize(p),
      baseDelayMs: o.baseDelayMs,
      maxDelayMs: o.maxDelayMs,
      maxAttempts: o.maxAttempts,
      random: o.random,
    });
    this.listShards = o.listShards;
    this.shardRefreshMs = o.shardRefreshMs;
    if (this.listShards) void this.refreshShards();
  }

  /** The writer's current view of the stream's open shards. */
  get shards(): ShardLayout {
    return this.view;
  }

  /**
   * Asks for the open shards now and files what is queued under them; a failed ask keeps
   * the old view (and says so). Then asks again every shardRefreshMs until close().
   */
  refreshShards(): Promise<void> {
    if (!this.listShards || this.closed) return Promise.resolve();
    this.refreshing ??= (async () => {
      clearTimeout(this.refreshTimer);
      try {
        const open = await this.listShards!();
        if (this.closed) return;
        const layout = new ShardLayout(open);
        const first = !this.listed;
        this.listed = true;
        const changed = this.packer.relayout(layout);
        if (changed && !first) log.info({ shards: layout.shards.map((s) => s.shardId) }, 'Kinesis open shards changed: packing and pacing follow');
        this.metrics.shardsViewed(layout.count, changed && !first);
        this.view = layout;
        this.pacer.setShards(layout.count);
        this.schedule();
      } catch (err) {
        // A call cut off by close() is no news.
        if (!this.closed) log.warn({ err }, 'cannot list the Kinesis stream\'s shards; keeping the last known ones');
      } finally {
        this.refreshing = undefined;
        if (!this.closed) {
          this.refreshTimer = setTimeout(() => void this.refreshShards(), this.shardRefreshMs);
          this.refreshTimer.unref();
        }
      }
    })();
    return this.refreshing;
  }

  /** Stops asking for the shards. Queued records are still written: drain() first to wait for them. */
  close(): void {
    this.closed = true;
    clearTimeout(this.refreshTimer);
  }

  /**
   * Resolves when every user record is in a Kinesis record Kinesis accepted; rejects with
   * KinesisWriteError when one cannot be.
   */
  write(records: readonly UserRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    for (const rec of records) {
      // Only a record near the limit is measured exactly (packing.ts ALONE_OVERHEAD_MAX).
      if (rec.data.length <= KINESIS_MAX_RECORD_BYTES - ALONE_OVERHEAD_MAX) continue;
      const size = this.packer.aloneSize({ rec, at: 0, vb: partBucket(rec.key) });
      if (size > KINESIS_MAX_RECORD_BYTES) {
        return Promise.reject(new KinesisWriteError(`user record ${rec.key} makes a Kinesis record of ${size} bytes, over Kinesis's ${KINESIS_MAX_RECORD_BYTES}-byte limit`, 'RecordTooLarge'));
      }
    }
    const at = performance.now();
    return new Promise<void>((resolve, reject) => {
      const job: Job = { remaining: records.length, settled: false, resolve, reject };
      for (const rec of records) this.packer.push({ rec, at, vb: partBucket(rec.key), job });
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
   * Keeps one call waiting for a slot once records of some shard may go (packing.ts); it
   * takes what may go when it starts.
   */
  private schedule(): void {
    if (this.packer.size === 0 || this.queue.size > 0) return;
    const wait = this.packer.readyIn(this.lingerMs, performance.now(), this.draining > 0);
    if (wait <= 0) {
      if (this.lingerTimer) clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
      void this.queue.add(() => this.runCall());
      return;
    }
    if (wait === Infinity) return;
    this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      this.schedule();
    }, Math.ceil(wait));
  }

  private async runCall(): Promise<void> {
    const call = this.packer.take(this.lingerMs, performance.now(), this.draining > 0);
    this.schedule();
    if (call.puts.length === 0) return;
    try {
      await this.retrier.put(call.puts);
    } finally {
      this.packer.done(call);
      this.schedule();
    }
  }
}
