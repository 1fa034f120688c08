/**
 * Reads one Kinesis shard while this worker holds its lease: GetShardIterator after the
 * checkpoint (TRIM_HORIZON without one), GetRecords in a loop, every record ingested,
 * then the checkpoint moved past them with the lease's fencing token. A checkpoint the
 * token no longer allows means the lease was taken over: the reader stops. Since ingest
 * is idempotent, records read twice around a takeover change nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record,
} from '@aws-sdk/client-kinesis';
import type { Redis } from 'ioredis';
import type { Logger } from '../common/log.js';
import { deaggregateRecords } from '../backend/kinesis/kpl-aggregation.js';
import { decodeRecord, recordKey, type EventRecord } from '../backend/kinesis/record-format.js';
import type { RedisKeys } from '../backend/redis/keys.js';
import type { WorkerMetrics } from './metrics.js';
import { ingestRecord, recordProblem } from './record-ingest.js';
import type { WorkerScripts } from './scripts.js';

/** GetRecords returns at most 10,000 records per call (AWS Kinesis API reference, GetRecords). */
const GET_RECORDS_LIMIT = 1000;
const MAX_BACKOFF_MS = 5000;

export interface ReaderContext {
  redis: Redis;
  keys: RedisKeys;
  scripts: WorkerScripts;
  kinesis: KinesisClient;
  stream: string;
  metrics: WorkerMetrics;
  log: Logger;
  /** pause after an empty GetRecords (a wake ends it early) */
  pollMs: number;
  /** called after records were ingested, so windows can close without waiting for a tick */
  onIngested(): void;
}

/** How often an idle reader checks that Redis still has the checkpoint it wrote. */
const LOST_CHECK_IDLE_MS = 1000;

export type ReaderEnd = 'stopped' | 'lost' | 'shard-end';

export interface Checkpoint {
  seq: string | undefined;
  ended: boolean;
}

export async function readCheckpoint(redis: Redis, keys: RedisKeys, shard: string): Promise<Checkpoint> {
  let h = await redis.hgetall(keys.checkpoint(shard));
  // Written before the key had its {shard} tag: carried on at this shard's next checkpoint.
  if (!Object.keys(h).length) h = await redis.hgetall(keys.legacyCheckpoint(shard));
  return { seq: h.seq || undefined, ended: h.end === '1' };
}

export class ShardReader {
  private readonly abort = new AbortController();
  readonly done: Promise<ReaderEnd>;
  /** set by wake(); the next idle pause is skipped */
  private woken = false;
  /** ends the idle pause under way, if any */
  private endPause: (() => void) | undefined;

  constructor(
    private readonly ctx: ReaderContext,
    readonly shard: string,
    readonly token: number,
  ) {
    this.done = this.loop().catch((err: unknown) => {
      ctx.log.error({ shard, err }, 'shard reader failed');
      return 'lost' as const;
    });
  }

  /** Stops after the records in hand are ingested (they are never half-applied: one script each). */
  async stop(): Promise<ReaderEnd> {
    this.abort.abort();
    return await this.done;
  }

  /**
   * New records may be in the shard (a gateway in this process just put some): read now
   * rather than at the end of the pause after an empty read.
   */
  wake(): void {
    this.woken = true;
    this.endPause?.();
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.abort.signal }).catch(() => {});
  }

  /** The pause after an empty read: ends early on wake(), and is skipped when one came since the read began. */
  private async idle(ms: number): Promise<void> {
    if (this.woken || this.stopped) return;
    const { signal } = this.abort;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.endPause = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.endPause = done;
    });
  }

  private async iterator(after: string | undefined): Promise<string | undefined> {
    const { kinesis, stream } = this.ctx;
    const res = await kinesis.send(
      new GetShardIteratorCommand(
        after
          ? { StreamName: stream, ShardId: this.shard, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: after }
          : { StreamName: stream, ShardId: this.shard, ShardIteratorType: 'TRIM_HORIZON' },
      ),
      { abortSignal: this.abort.signal },
    );
    return res.ShardIterator;
  }

  private async checkpoint(seq: string | undefined, ended: boolean): Promise<boolean> {
    const { redis, keys, scripts } = this.ctx;
    return await scripts.checkpoint(redis, keys, this.shard, this.token, seq, ended);
  }

  /**
   * Replication is asynchronous: a replica promoted after a failover may lack the last
   * writes, this reader's ingests and checkpoints among them. Reading on from memory
   * would leave those records' events missing and their server's watermark stuck behind
   * their seqs (it advances only over complete batches), so every window after them
   * would wait forever. A stored checkpoint behind the one this reader wrote means Redis
   * lost writes: returns it, to read again from there (ingest is idempotent); false
   * when the checkpoint is where this reader left it.
   */
  private async lostCheckpoint(written: string | undefined): Promise<string | undefined | false> {
    if (written === undefined) return false;
    const { seq } = await readCheckpoint(this.ctx.redis, this.ctx.keys, this.shard);
    if (seq !== undefined && (seq.length > written.length || (seq.length === written.length && seq >= written))) return false;
    this.ctx.log.warn({ shard: this.shard, written, stored: seq ?? null }, 'shard checkpoint went back (Redis lost acknowledged writes, e.g. a failover to a lagging replica); reading again from the stored one');
    return seq;
  }

  private async loop(): Promise<ReaderEnd> {
    const { log } = this.ctx;
    const cp = await readCheckpoint(this.ctx.redis, this.ctx.keys, this.shard);
    if (cp.ended) return 'shard-end';
    let last = cp.seq;
    let iter: string | undefined;
    let backoff = 0;
    let checkedAt = Date.now();
    while (!this.stopped) {
      try {
        iter ??= await this.iterator(last);
        if (!iter) {
          // No iterator for a closed shard means it has nothing more to read.
          return (await this.checkpoint(last, true)) ? 'shard-end' : 'lost';
        }
        // A wake from here on may be for records this read does not see yet.
        this.woken = false;
        const res = await this.ctx.kinesis.send(new GetRecordsCommand({ ShardIterator: iter, Limit: GET_RECORDS_LIMIT }), { abortSignal: this.abort.signal });
        backoff = 0;
        const records = res.Records ?? [];
        if (records.length) {
          await this.ingestAll(records);
          const seq = records[records.length - 1]!.SequenceNumber!;
          const stored = await this.lostCheckpoint(last);
          checkedAt = Date.now();
          if (stored !== false) {
            last = stored;
            iter = undefined;
            continue;
          }
          if (!(await this.checkpoint(seq, false))) {
            log.warn({ shard: this.shard, token: this.token }, 'checkpoint refused: lease taken over; stopping this shard');
            return 'lost';
          }
          last = seq;
          this.ctx.onIngested();
        }
        iter = res.NextShardIterator;
        if (!iter) {
          log.info({ shard: this.shard }, 'shard closed and read to its end');
          return (await this.checkpoint(last, true)) ? 'shard-end' : 'lost';
        }
        if (!records.length) {
          // A shard that gets no new records after a failover must notice too: the lost
          // records may be the ones holding a server's watermark back.
          if (Date.now() - checkedAt >= LOST_CHECK_IDLE_MS) {
            checkedAt = Date.now();
            const stored = await this.lostCheckpoint(last);
            if (stored !== false) {
              last = stored;
              iter = undefined;
              continue;
            }
          }
          await this.idle(this.ctx.pollMs);
        }
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof ExpiredIteratorException) {
          // Iterators live 5 minutes (AWS Kinesis API reference, GetShardIterator); start again after the last ingested record.
          log.info({ shard: this.shard }, 'shard iterator expired; getting a new one');
          iter = undefined;
          continue;
        }
        backoff = Math.min(MAX_BACKOFF_MS, backoff ? backoff * 2 : 100);
        log.warn({ shard: this.shard, err, retryInMs: backoff }, 'reading shard failed; retrying');
        // Re-read from the last checkpointed record: records past it may or may not have been ingested, and ingest is idempotent.
        iter = undefined;
        await this.pause(backoff);
      }
    }
    return 'stopped';
  }

  private async ingestAll(records: _Record[]): Promise<void> {
    const { redis, keys, scripts, metrics, log } = this.ctx;
    // One script per record, all sent at once: ioredis pipelines them on the connection.
    await Promise.all(
      deaggregateRecords(records).map(async (rec) => {
        let r: EventRecord;
        try {
          r = decodeRecord(rec.Data ?? new Uint8Array());
          const problem = recordProblem(r);
          if (problem) throw new Error(problem);
        } catch (err) {
          metrics.badRecord();
          log.warn({ shard: this.shard, seq: rec.SequenceNumber, err }, 'bad record skipped');
          return;
        }
        const res = await ingestRecord(redis, keys, scripts, r);
        metrics.recordIngested(res.events, !res.applied, res.duplicateEvents, res.late);
        if (res.badEvents) {
          metrics.badEvent(res.badEvents);
          log.warn({ record: recordKey(r), count: res.badEvents }, 'malformed events skipped');
        }
        if (res.late) log.warn({ record: recordKey(r), late: res.late }, 'late events: their window had already closed; not folded');
        if (!res.applied) log.debug({ record: recordKey(r) }, 'duplicate record');
      }),
    );
  }
}
