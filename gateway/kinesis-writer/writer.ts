/**
 * Puts user records into Kinesis with PutRecords, aggregated in the KPL format
 * (gateway/kpl-aggregation.ts), and resolves each write once every one of its user
 * records is in an accepted Kinesis record.
 *
 * - Aggregation happens when a call starts: it takes the queued user records (from many
 *   connections and pipelined batches) and packs those of each partition bucket, in
 *   queue order, into aggregated records of up to `recordTargetBytes` (data + partition
 *   key). A record holds one bucket only, so its user records and its ExplicitHashKey
 *   always agree on the shard (a KCL consumer drops user records whose hash key is
 *   outside its shard).
 * - A call starts once the oldest queued record has waited `lingerMs` (Kafka's
 *   linger.ms), or at once when a bucket has a full record's worth queued. Splitting by
 *   player bucket cuts each batch into one user record per bucket; the linger lets the
 *   batches a plugin sends together (a flush above 500 events is several batches), and
 *   those of other servers arriving meanwhile, share aggregates instead of each taking
 *   a record per bucket.
 * - API limits enforced here, since kinesalite does not enforce all of them:
 *   500 records and 5 MiB (partition keys included) per call, 1 MiB per record.
 * - At most `maxPutsInFlight` calls at once (p-queue); with the shard count known, calls
 *   are paced under the per-shard quotas (1,000 records/s and 1 MiB/s per shard).
 * - A partial failure resends only the failed entries, after exponential backoff with
 *   full jitter; a ProvisionedThroughputExceededException also slows every later call
 *   (a shared delay that doubles on each throttle and halves on each clean call).
 * - A call that fails whole (network error, timeout, 5xx) is retried whole. A timeout
 *   after Kinesis stored the records therefore writes them twice: each record carries its
 *   idempotency key, so the worker drops the copy.
 * - Errors that no retry can fix (missing stream, validation, access) fail the write at
 *   once; the connection then closes and the plugin resends the batch.
 */
import type { KinesisClient, PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import PQueue from 'p-queue';
import { KINESIS_MAX_BYTES_PER_PUT, KINESIS_MAX_RECORD_BYTES, KINESIS_MAX_RECORDS_PER_PUT, KINESIS_PUT_PAYLOAD_UNIT_BYTES } from '../../protocol/limits.js';
import { logger } from '../../common/log.js';
import { checkRecordTarget, type UserRecord } from '../batch-records.js';
import { AggregateBuilder } from '../../backend/kinesis/kpl-aggregation.js';
import { GatewayMetrics } from '../metrics.js';
import { PartitionScheme } from '../../backend/kinesis/partition-keys.js';
import { TokenBucket } from '../rate-limiter.js';

const log = logger('gateway');

/** What the writer needs of Kinesis: PutRecords. The real client, a fault-injecting wrapper or a null sink. */
export interface PutRecordsSink {
  putRecords(input: { StreamName: string; Records: PutEntry[] }): Promise<PutRecordsResult>;
}

/** One PutRecords entry as the writer sends it. */
export interface PutEntry {
  Data: Uint8Array;
  PartitionKey: string;
  ExplicitHashKey?: string | undefined;
}

/** The part of a PutRecords response the writer reads; entries are in request order. */
export interface PutRecordsResult {
  FailedRecordCount?: number | undefined;
  Records?: { ErrorCode?: string | undefined; ErrorMessage?: string | undefined; SequenceNumber?: string | undefined; ShardId?: string | undefined }[] | undefined;
}

/** PutRecords through the real SDK client. */
export function kinesisSink(client: KinesisClient): PutRecordsSink {
  return {
    putRecords: async (input) => (await client.send(new PutRecordsCommand(input as PutRecordsCommandInput))) as PutRecordsResult,
  };
}

export interface KinesisWriterOptions {
  sink: PutRecordsSink;
  stream: string;
  metrics?: GatewayMetrics;
  /** Partition buckets: user records of one bucket share aggregated records. @default one bucket per shard (shardCount), else 4 */
  scheme?: PartitionScheme;
  /** Target size of an aggregated record, data plus partition key, 1 KiB to 1 MiB. @default 25 KiB (one PUT payload unit) */
  recordTargetBytes?: number;
  /**
   * How long the oldest queued record waits for others to share its call (unless a full
   * record is ready); 0 puts whatever is queued whenever a call slot is free.
   * @default 10 (DEFAULT_LINGER_MS)
   */
  lingerMs?: number;
  /** PutRecords calls in flight at once. @default 4 */
  maxPutsInFlight?: number;
  /** Records per call; at most Kinesis's 500. @default 500 */
  maxRecordsPerPut?: number;
  /** Bytes per call, partition keys included; at most Kinesis's 5 MiB. @default 5 MiB */
  maxBytesPerPut?: number;
  /** First retry delay (before jitter). @default 50 */
  baseDelayMs?: number;
  /** Longest retry or throttle delay. @default 5000 */
  maxDelayMs?: number;
  /** Calls per chunk of records before its write fails (retryable errors only). @default 20 */
  maxAttempts?: number;
  /** Random source for jitter, in [0, 1). @default Math.random */
  random?: () => number;
  /**
   * Shards of the stream, when known: puts are then paced to stay under the per-shard
   * write limits times this many shards (partition keys spread records evenly).
   * @default undefined (no pacing; throttling still slows the writer down)
   */
  shardCount?: number;
  /** Per-shard record rate used with shardCount. @default 1000 (Kinesis quota) */
  perShardRecordsPerSec?: number;
  /** Per-shard byte rate used with shardCount. @default 1 MiB (Kinesis quota) */
  perShardBytesPerSec?: number;
}

/** Kinesis write quota per shard: 1,000 records/s (AWS Kinesis quotas). */
export const KINESIS_SHARD_RECORDS_PER_SEC = 1000;
/** Kinesis write quota per shard: 1 MiB/s (AWS Kinesis quotas). */
export const KINESIS_SHARD_BYTES_PER_SEC = 1024 * 1024;

/** Error codes no retry can fix: fail the write at once. */
const FATAL_CODES = new Set([
  'ResourceNotFoundException',
  'ValidationException',
  'InvalidArgumentException',
  'AccessDeniedException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'KMSOptInRequired',
  'UnrecognizedClientException',
]);
const THROTTLE_CODES = new Set(['ProvisionedThroughputExceededException', 'LimitExceededException', 'KMSThrottlingException', 'ThrottlingException']);

/** Thrown by a write whose records could not all be put. */
export class KinesisWriteError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KinesisWriteError';
  }
}

interface Job {
  remaining: number;
  settled: boolean;
  resolve(): void;
  reject(err: Error): void;
}

interface Entry {
  rec: UserRecord;
  job: Job;
  /** performance.now() when it was queued */
  at: number;
}

/** One Kinesis record of a call: an aggregate of user records of one bucket. */
interface Put {
  bucket: number;
  entries: Entry[];
  builder: AggregateBuilder;
  /** Built when the call is made; a retry resends the same bytes. */
  data: Buffer | undefined;
}

/**
 * How long the oldest queued record waits for company. Records are split by player
 * bucket, so without waiting each batch becomes one small Kinesis record per bucket;
 * 10 ms gathers the plugins' flushes arriving meanwhile. At the seed's 70 k events/s
 * (20 servers, 4 shards; bench/aggregation.bench.ts) that is 250-275 events per record,
 * against about 115 with no wait, 380 with 20 ms, and 300 for the pre-aggregation layout
 * of one unbucketed record per batch. It is small next to a PutRecords call (10-30 ms on
 * AWS) and to any hunt window (>= 1 s), but it is gateway latency: set 0-2 ms where ack
 * latency matters more than PUT cost.
 */
export const DEFAULT_LINGER_MS = 10;

/** Default partition buckets when the shard count is not known. */
export const DEFAULT_PARTITION_BUCKETS = 4;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function errorCode(err: unknown): string {
  const e = err as { name?: string; code?: string };
  return e?.name && e.name !== 'Error' ? e.name : (e?.code ?? 'Error');
}

export class KinesisWriter {
  readonly metrics: GatewayMetrics;
  readonly scheme: PartitionScheme;
  readonly recordTargetBytes: number;
  private readonly sink: PutRecordsSink;
  private readonly stream: string;
  private readonly queue: PQueue;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxAttempts: number;
  private readonly random: () => number;
  private readonly recordRate: TokenBucket | undefined;
  private readonly byteRate: TokenBucket | undefined;
  private pending: Entry[] = [];
  private readonly lingerMs: number;
  /** Per bucket: data bytes of its queued user records. */
  private readonly queuedBytes: Float64Array;
  /** Buckets with a full record's worth queued. */
  private full = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** drain() calls in progress: while any is, nothing lingers. */
  private draining = 0;
  /** Shared slow-down after throttling: every call waits until `nextPutAt`. */
  private throttleDelayMs = 0;
  private nextPutAt = 0;

  constructor(opts: KinesisWriterOptions) {
    this.sink = opts.sink;
    this.stream = opts.stream;
    this.metrics = opts.metrics ?? new GatewayMetrics();
    this.scheme = opts.scheme ?? new PartitionScheme(opts.shardCount ?? DEFAULT_PARTITION_BUCKETS);
    this.recordTargetBytes = checkRecordTarget(opts.recordTargetBytes ?? KINESIS_PUT_PAYLOAD_UNIT_BYTES);
    this.lingerMs = opts.lingerMs ?? DEFAULT_LINGER_MS;
    if (!(this.lingerMs >= 0)) throw new RangeError(`lingerMs=${this.lingerMs}: must be >= 0`);
    this.queuedBytes = new Float64Array(this.scheme.buckets);
    const inFlight = opts.maxPutsInFlight ?? 4;
    if (!Number.isInteger(inFlight) || inFlight < 1) throw new RangeError(`maxPutsInFlight=${inFlight}: must be a positive integer`);
    this.queue = new PQueue({ concurrency: inFlight });
    this.maxRecords = Math.min(opts.maxRecordsPerPut ?? KINESIS_MAX_RECORDS_PER_PUT, KINESIS_MAX_RECORDS_PER_PUT);
    this.maxBytes = Math.min(opts.maxBytesPerPut ?? KINESIS_MAX_BYTES_PER_PUT, KINESIS_MAX_BYTES_PER_PUT);
    if (this.maxRecords < 1 || this.maxBytes < KINESIS_MAX_RECORD_BYTES) {
      throw new RangeError(`maxRecordsPerPut must be >= 1 and maxBytesPerPut >= ${KINESIS_MAX_RECORD_BYTES} (one full record)`);
    }
    this.baseDelayMs = opts.baseDelayMs ?? 50;
    this.maxDelayMs = opts.maxDelayMs ?? 5000;
    this.maxAttempts = opts.maxAttempts ?? 20;
    this.random = opts.random ?? Math.random;
    if (opts.shardCount !== undefined) {
      if (!Number.isInteger(opts.shardCount) || opts.shardCount < 1) throw new RangeError(`shardCount=${opts.shardCount}: must be a positive integer`);
      const records = opts.shardCount * (opts.perShardRecordsPerSec ?? KINESIS_SHARD_RECORDS_PER_SEC);
      const bytes = opts.shardCount * (opts.perShardBytesPerSec ?? KINESIS_SHARD_BYTES_PER_SEC);
      this.recordRate = new TokenBucket(records);
      // A burst of at least one full call, so a 5 MiB call is paced rather than never allowed.
      this.byteRate = new TokenBucket(bytes, Math.max(bytes, this.maxBytes));
    }
  }

  /** Waits until the shards' write quota covers this call. */
  private async pace(puts: Put[]): Promise<void> {
    if (!this.recordRate || !this.byteRate) return;
    const bytes = puts.reduce((a, p) => a + this.putSize(p), 0);
    const wait = Math.max(this.recordRate.reserve(puts.length), this.byteRate.reserve(bytes));
    if (wait > 0) await sleep(wait);
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
      const alone = new AggregateBuilder();
      const size = alone.size + alone.growth(this.userRecord(r)) + this.pkBytes(r.bucket);
      if (size > KINESIS_MAX_RECORD_BYTES) {
        return Promise.reject(new KinesisWriteError(`user record ${r.key} makes a Kinesis record of ${size} bytes, over Kinesis's ${KINESIS_MAX_RECORD_BYTES}-byte limit`, 'RecordTooLarge'));
      }
    }
    return new Promise<void>((resolve, reject) => {
      const job: Job = { remaining: records.length, settled: false, resolve, reject };
      const at = performance.now();
      for (const rec of records) {
        this.pending.push({ rec, job, at });
        this.track(rec, 1);
      }
      this.schedule();
    });
  }

  /** User records queued and not yet taken by a call. */
  get queued(): number {
    return this.pending.length;
  }

  /** Puts what is queued without lingering, and waits until every record is settled (accepted or failed). */
  async drain(): Promise<void> {
    this.draining++;
    try {
      for (;;) {
        this.schedule();
        if (this.pending.length === 0 && this.queue.size === 0 && this.queue.pending === 0) return;
        await this.queue.onIdle();
      }
    } finally {
      this.draining--;
    }
  }

  private track(rec: UserRecord, sign: 1 | -1): void {
    const b = rec.bucket;
    const wasFull = this.queuedBytes[b]! >= this.recordTargetBytes;
    this.queuedBytes[b]! += sign * rec.data.length;
    const isFull = this.queuedBytes[b]! >= this.recordTargetBytes;
    if (isFull !== wasFull) this.full += isFull ? 1 : -1;
  }

  /**
   * Keeps one call waiting for a slot once records may go (the oldest has lingered, or a
   * full record is ready); it takes what is queued when it starts.
   */
  private schedule(): void {
    if (this.pending.length === 0 || this.queue.size > 0) return;
    const wait = this.full > 0 || this.draining > 0 ? 0 : this.pending[0]!.at + this.lingerMs - performance.now();
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

  private userRecord(r: UserRecord): { partitionKey: string; explicitHashKey: string; data: Buffer } {
    return { partitionKey: this.scheme.keys[r.bucket]!, explicitHashKey: this.scheme.hashKeys[r.bucket]!, data: r.data };
  }

  private pkBytes(bucket: number): number {
    return this.scheme.keys[bucket]!.length; // bucket keys are ASCII
  }

  /** What a Kinesis record counts against the record and call limits: data + partition key. */
  private putSize(p: Put): number {
    return p.builder.size + this.pkBytes(p.bucket);
  }

  /**
   * Takes queued user records, in order, into the Kinesis records of one call: each
   * bucket's records fill one aggregate up to the target, then the next. Stops at the
   * call limits (500 records, 5 MiB); what is left waits for the next call.
   */
  private takeCall(): Put[] {
    const pending = this.pending;
    const open = new Map<number, Put>();
    const puts: Put[] = [];
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

  private async runCall(): Promise<void> {
    const puts = this.takeCall();
    this.schedule();
    if (puts.length === 0) return;
    await this.putWithRetries(puts);
  }

  private backoff(attempt: number): number {
    // Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
    return this.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** attempt);
  }

  private slowDown(): void {
    this.throttleDelayMs = Math.min(this.maxDelayMs, Math.max(this.baseDelayMs, this.throttleDelayMs * 2));
    this.nextPutAt = Math.max(this.nextPutAt, Date.now() + this.throttleDelayMs);
  }

  private speedUp(): void {
    this.throttleDelayMs = this.throttleDelayMs / 2 < this.baseDelayMs ? 0 : this.throttleDelayMs / 2;
  }

  private async putWithRetries(chunk: Put[]): Promise<void> {
    // A record whose every write has failed already (elsewhere) is not sent.
    const live = (p: Put) => p.entries.some((e) => !e.job.settled);
    let puts = chunk.filter(live);
    for (const p of puts) p.data = p.builder.build();
    for (let attempt = 0; puts.length > 0; attempt++) {
      const wait = this.nextPutAt - Date.now();
      if (wait > 0) await sleep(wait);
      if (attempt > 0) puts = puts.filter(live);
      if (puts.length === 0) return;
      await this.pace(puts);
      const started = performance.now();
      let result: PutRecordsResult;
      try {
        result = await this.sink.putRecords({
          StreamName: this.stream,
          Records: puts.map((p) => ({ Data: p.data!, PartitionKey: this.scheme.keys[p.bucket]!, ExplicitHashKey: this.scheme.hashKeys[p.bucket]! })),
        });
      } catch (err) {
        this.metrics.putCall((performance.now() - started) / 1000, attempt > 0);
        const code = errorCode(err);
        this.metrics.entriesFailed(code, puts.length);
        if (FATAL_CODES.has(code) || attempt + 1 >= this.maxAttempts) {
          this.fail(puts, new KinesisWriteError(`PutRecords failed (${code}) after ${attempt + 1} attempt(s): ${(err as Error).message}`, code, { cause: err }));
          return;
        }
        if (THROTTLE_CODES.has(code)) this.slowDown();
        log.warn({ code, records: puts.length, attempt }, 'PutRecords call failed; retrying');
        await sleep(this.backoff(attempt));
        continue;
      }
      this.metrics.putCall((performance.now() - started) / 1000, attempt > 0);
      const results = result.Records ?? [];
      const failed: Put[] = [];
      let throttled = false;
      let fatal: string | undefined;
      let accepted = 0;
      let users = 0;
      puts.forEach((p, i) => {
        const r = results[i];
        // A response with fewer results than entries is malformed: treat the missing ones as failed.
        const code = r === undefined ? 'MissingResult' : r.ErrorCode;
        if (code) {
          failed.push(p);
          this.metrics.entriesFailed(code, 1);
          if (THROTTLE_CODES.has(code)) throttled = true;
          if (FATAL_CODES.has(code)) fatal = code;
        } else {
          accepted++;
          users += p.entries.length;
          for (const e of p.entries) this.accept(e);
        }
      });
      this.metrics.recordsAccepted(accepted, users);
      if (failed.length === 0) {
        this.speedUp();
        return;
      }
      if (fatal !== undefined || attempt + 1 >= this.maxAttempts) {
        const code = fatal ?? 'RetriesExhausted';
        this.fail(failed, new KinesisWriteError(`${failed.length} record(s) not accepted by Kinesis (${code}) after ${attempt + 1} attempt(s)`, code));
        return;
      }
      if (throttled) this.slowDown();
      log.debug({ failed: failed.length, of: puts.length, attempt }, 'PutRecords partial failure; retrying the failed entries');
      puts = failed;
      await sleep(this.backoff(attempt));
    }
  }

  private accept(e: Entry): void {
    const job = e.job;
    if (job.settled) return;
    if (--job.remaining === 0) {
      job.settled = true;
      job.resolve();
    }
  }

  private fail(puts: Put[], err: KinesisWriteError): void {
    log.error({ code: err.code, records: puts.length }, err.message);
    for (const p of puts) {
      for (const e of p.entries) {
        if (!e.job.settled) {
          e.job.settled = true;
          e.job.reject(err);
        }
      }
    }
  }
}
