/**
 * Puts records into Kinesis with PutRecords and resolves each write once every one of
 * its records is accepted.
 *
 * - Records of concurrent writes (many connections, pipelined batches) share calls:
 *   a call takes whatever is queued when it starts, up to the API limits.
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
import { KINESIS_MAX_BYTES_PER_PUT, KINESIS_MAX_RECORD_BYTES, KINESIS_MAX_RECORDS_PER_PUT } from '../protocol/limits.js';
import { logger } from '../protocol/log.js';
import type { OutRecord } from './batch-records.js';
import { GatewayMetrics } from './metrics.js';
import { TokenBucket } from './rate-limiter.js';

const log = logger('gateway');

/** What the writer needs of Kinesis: PutRecords. The real client, a fault-injecting wrapper or a null sink. */
export interface PutRecordsSink {
  putRecords(input: { StreamName: string; Records: { Data: Uint8Array; PartitionKey: string }[] }): Promise<PutRecordsResult>;
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
  rec: OutRecord;
  job: Job;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function errorCode(err: unknown): string {
  const e = err as { name?: string; code?: string };
  return e?.name && e.name !== 'Error' ? e.name : (e?.code ?? 'Error');
}

export class KinesisWriter {
  readonly metrics: GatewayMetrics;
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
  /** Shared slow-down after throttling: every call waits until `nextPutAt`. */
  private throttleDelayMs = 0;
  private nextPutAt = 0;

  constructor(opts: KinesisWriterOptions) {
    this.sink = opts.sink;
    this.stream = opts.stream;
    this.metrics = opts.metrics ?? new GatewayMetrics();
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
  private async pace(entries: Entry[]): Promise<void> {
    if (!this.recordRate || !this.byteRate) return;
    const bytes = entries.reduce((a, e) => a + e.rec.size, 0);
    const wait = Math.max(this.recordRate.reserve(entries.length), this.byteRate.reserve(bytes));
    if (wait > 0) await sleep(wait);
  }

  /** Resolves when every record is accepted by Kinesis; rejects with KinesisWriteError when one cannot be. */
  write(records: readonly OutRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    for (const r of records) {
      if (r.size > KINESIS_MAX_RECORD_BYTES) {
        return Promise.reject(new KinesisWriteError(`record ${r.key} is ${r.size} bytes, over Kinesis's ${KINESIS_MAX_RECORD_BYTES}-byte limit`, 'RecordTooLarge'));
      }
    }
    return new Promise<void>((resolve, reject) => {
      const job: Job = { remaining: records.length, settled: false, resolve, reject };
      for (const rec of records) this.pending.push({ rec, job });
      this.schedule();
    });
  }

  /** Records queued and not yet taken by a call. */
  get queued(): number {
    return this.pending.length;
  }

  /** Waits until every queued record is settled (accepted or failed). */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.queue.size > 0 || this.queue.pending > 0) await this.queue.onIdle();
  }

  /** Keeps one call waiting for a slot while records are queued; it takes what is queued when it starts. */
  private schedule(): void {
    if (this.pending.length > 0 && this.queue.size === 0) {
      void this.queue.add(() => this.runCall());
    }
  }

  private takeChunk(): Entry[] {
    let bytes = 0;
    let n = 0;
    while (n < this.pending.length && n < this.maxRecords) {
      const size = this.pending[n]!.rec.size;
      if (n > 0 && bytes + size > this.maxBytes) break;
      bytes += size;
      n++;
    }
    return this.pending.splice(0, n);
  }

  private async runCall(): Promise<void> {
    const chunk = this.takeChunk();
    this.schedule();
    if (chunk.length === 0) return;
    await this.putWithRetries(chunk);
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

  private async putWithRetries(chunk: Entry[]): Promise<void> {
    let entries = chunk.filter((e) => !e.job.settled);
    for (let attempt = 0; entries.length > 0; attempt++) {
      const wait = this.nextPutAt - Date.now();
      if (wait > 0) await sleep(wait);
      if (attempt > 0) entries = entries.filter((e) => !e.job.settled);
      if (entries.length === 0) return;
      await this.pace(entries);
      const started = performance.now();
      let result: PutRecordsResult;
      try {
        result = await this.sink.putRecords({ StreamName: this.stream, Records: entries.map((e) => ({ Data: e.rec.data, PartitionKey: e.rec.partitionKey })) });
      } catch (err) {
        this.metrics.putCall((performance.now() - started) / 1000, attempt > 0);
        const code = errorCode(err);
        this.metrics.entriesFailed(code, entries.length);
        if (FATAL_CODES.has(code) || attempt + 1 >= this.maxAttempts) {
          this.fail(entries, new KinesisWriteError(`PutRecords failed (${code}) after ${attempt + 1} attempt(s): ${(err as Error).message}`, code, { cause: err }));
          return;
        }
        if (THROTTLE_CODES.has(code)) this.slowDown();
        log.warn({ code, entries: entries.length, attempt }, 'PutRecords call failed; retrying');
        await sleep(this.backoff(attempt));
        continue;
      }
      this.metrics.putCall((performance.now() - started) / 1000, attempt > 0);
      const results = result.Records ?? [];
      const failed: Entry[] = [];
      let throttled = false;
      let fatal: string | undefined;
      let accepted = 0;
      entries.forEach((e, i) => {
        const r = results[i];
        // A response with fewer results than entries is malformed: treat the missing ones as failed.
        const code = r === undefined ? 'MissingResult' : r.ErrorCode;
        if (code) {
          failed.push(e);
          this.metrics.entriesFailed(code, 1);
          if (THROTTLE_CODES.has(code)) throttled = true;
          if (FATAL_CODES.has(code)) fatal = code;
        } else {
          accepted++;
          this.accept(e);
        }
      });
      this.metrics.recordsAccepted(accepted);
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
      log.debug({ failed: failed.length, of: entries.length, attempt }, 'PutRecords partial failure; retrying the failed entries');
      entries = failed;
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

  private fail(entries: Entry[], err: KinesisWriteError): void {
    log.error({ code: err.code, entries: entries.length }, err.message);
    for (const e of entries) {
      if (!e.job.settled) {
        e.job.settled = true;
        e.job.reject(err);
      }
    }
  }
}
