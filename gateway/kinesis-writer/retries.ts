/**
 * One call's records through PutRecords until each is accepted or fails, and the
 * settlement of the writes they belong to (a write resolves once every one of its user
 * records is in an accepted Kinesis record, and rejects on the first that cannot be).
 *
 * - A partial failure resends only the failed entries, after exponential backoff with
 *   full jitter; a throttle also slows every later call (pacing.ts).
 * - A call that fails whole (network error, timeout, 5xx) is retried whole. A timeout
 *   after Kinesis stored the records therefore writes them twice: each record carries its
 *   idempotency key, so the worker drops the copy.
 * - Errors that no retry can fix (missing stream, validation, access) fail the write at
 *   once; the connection then closes and the plugin resends the batch.
 */
import { sleep } from '../../common/async.js';
import { logger } from '../../common/log.js';
import type { GatewayMetrics } from '../metrics.js';
import { FATAL_CODES, KinesisWriteError, THROTTLE_CODES, errorCode } from './errors.js';
import type { Pacer } from './pacing.js';
import type { Put, Queued } from './packing.js';
import type { PutRecordsResult, PutRecordsSink } from './sink.js';

const log = logger('gateway');

/** One write(): how many of its user records are not yet accepted. */
export interface Job {
  remaining: number;
  settled: boolean;
  resolve(): void;
  reject(err: Error): void;
}

export interface Entry extends Queued {
  job: Job;
}

export interface RetryOptions {
  sink: PutRecordsSink;
  stream: string;
  metrics: GatewayMetrics;
  pacer: Pacer;
  /** What a Kinesis record counts against the call limits (packing.ts). */
  putSize(p: Put<Entry>): number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  random: () => number;
}

export class PutRetrier {
  constructor(private readonly o: RetryOptions) {}

  private backoff(attempt: number): number {
    // Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
    return this.o.random() * Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** attempt);
  }

  async put(chunk: Put<Entry>[]): Promise<void> {
    const { metrics, pacer } = this.o;
    // A record whose every write has failed already (elsewhere) is not sent.
    const live = (p: Put<Entry>) => p.entries.some((e) => !e.job.settled);
    let puts = chunk.filter(live);
    for (const p of puts) p.data = p.builder.build();
    for (let attempt = 0; puts.length > 0; attempt++) {
      const slowed = pacer.throttled();
      if (slowed) await slowed;
      if (attempt > 0) puts = puts.filter(live);
      if (puts.length === 0) return;
      const paced = pacer.quota(puts.length, puts.reduce((a, p) => a + this.o.putSize(p), 0));
      if (paced) await paced;
      const started = performance.now();
      let result: PutRecordsResult;
      try {
        result = await this.o.sink.putRecords({
          StreamName: this.o.stream,
          Records: puts.map((p) => ({ Data: p.data!, PartitionKey: p.partitionKey, ExplicitHashKey: p.explicitHashKey })),
        });
      } catch (err) {
        metrics.putCall((performance.now() - started) / 1000, attempt > 0);
        const code = errorCode(err);
        metrics.entriesFailed(code, puts.length);
        if (FATAL_CODES.has(code) || attempt + 1 >= this.o.maxAttempts) {
          fail(puts, new KinesisWriteError(`PutRecords failed (${code}) after ${attempt + 1} attempt(s): ${(err as Error).message}`, code, { cause: err }));
          return;
        }
        if (THROTTLE_CODES.has(code)) pacer.slowDown();
        log.warn({ err, code, records: puts.length, attempt }, 'PutRecords call failed; retrying');
        await sleep(this.backoff(attempt));
        continue;
      }
      metrics.putCall((performance.now() - started) / 1000, attempt > 0);
      const results = result.Records ?? [];
      const failed: Put<Entry>[] = [];
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
          metrics.entriesFailed(code, 1);
          if (THROTTLE_CODES.has(code)) throttled = true;
          if (FATAL_CODES.has(code)) fatal = code;
        } else {
          accepted++;
          users += p.entries.length;
          for (const e of p.entries) accept(e);
        }
      });
      metrics.recordsAccepted(accepted, users);
      if (failed.length === 0) {
        pacer.speedUp();
        return;
      }
      if (fatal !== undefined || attempt + 1 >= this.o.maxAttempts) {
        const code = fatal ?? 'RetriesExhausted';
        fail(failed, new KinesisWriteError(`${failed.length} record(s) not accepted by Kinesis (${code}) after ${attempt + 1} attempt(s)`, code));
        return;
      }
      if (throttled) pacer.slowDown();
      log.debug({ failed: failed.length, of: puts.length, attempt }, 'PutRecords partial failure; retrying the failed entries');
      puts = failed;
      await sleep(this.backoff(attempt));
    }
  }
}

function accept(e: Entry): void {
  const job = e.job;
  if (job.settled) return;
  if (--job.remaining === 0) {
    job.settled = true;
    job.resolve();
  }
}

function fail(puts: Put<Entry>[], err: KinesisWriteError): void {
  log.error({ err, code: err.code, records: puts.length }, 'Kinesis write failed');
  for (const p of puts) {
    for (const e of p.entries) {
      if (!e.job.settled) {
        e.job.settled = true;
        e.job.reject(err);
      }
    }
  }
}
