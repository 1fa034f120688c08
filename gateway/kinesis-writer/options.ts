/**
 * The writer's options, their defaults and the Kinesis quotas they default to. Checked
 * once at construction (RangeError naming the option; the gateway turns it into a
 * ConfigInvalid error).
 */
import { KINESIS_MAX_BYTES_PER_PUT, KINESIS_MAX_RECORD_BYTES, KINESIS_MAX_RECORDS_PER_PUT, KINESIS_PUT_PAYLOAD_UNIT_BYTES } from '../../protocol/limits.js';
import { PartitionScheme } from '../../backend/kinesis/partition-keys.js';
import { checkRecordTarget } from '../batch-records.js';
import { GatewayMetrics } from '../metrics.js';
import type { PutRecordsSink } from './sink.js';

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

/** The options with every default filled in and every limit checked. */
export interface ResolvedWriterOptions {
  sink: PutRecordsSink;
  stream: string;
  metrics: GatewayMetrics;
  scheme: PartitionScheme;
  recordTargetBytes: number;
  lingerMs: number;
  maxPutsInFlight: number;
  maxRecordsPerPut: number;
  maxBytesPerPut: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  random: () => number;
  /** Stream-wide write rates when the shard count is known. */
  rates: { recordsPerSec: number; bytesPerSec: number } | undefined;
}

export function resolveWriterOptions(opts: KinesisWriterOptions): ResolvedWriterOptions {
  const lingerMs = opts.lingerMs ?? DEFAULT_LINGER_MS;
  if (!(lingerMs >= 0)) throw new RangeError(`lingerMs=${lingerMs}: must be >= 0`);
  const maxPutsInFlight = opts.maxPutsInFlight ?? 4;
  if (!Number.isInteger(maxPutsInFlight) || maxPutsInFlight < 1) throw new RangeError(`maxPutsInFlight=${maxPutsInFlight}: must be a positive integer`);
  const maxRecordsPerPut = Math.min(opts.maxRecordsPerPut ?? KINESIS_MAX_RECORDS_PER_PUT, KINESIS_MAX_RECORDS_PER_PUT);
  const maxBytesPerPut = Math.min(opts.maxBytesPerPut ?? KINESIS_MAX_BYTES_PER_PUT, KINESIS_MAX_BYTES_PER_PUT);
  if (maxRecordsPerPut < 1 || maxBytesPerPut < KINESIS_MAX_RECORD_BYTES) {
    throw new RangeError(`maxRecordsPerPut must be >= 1 and maxBytesPerPut >= ${KINESIS_MAX_RECORD_BYTES} (one full record)`);
  }
  let rates: ResolvedWriterOptions['rates'];
  if (opts.shardCount !== undefined) {
    if (!Number.isInteger(opts.shardCount) || opts.shardCount < 1) throw new RangeError(`shardCount=${opts.shardCount}: must be a positive integer`);
    rates = {
      recordsPerSec: opts.shardCount * (opts.perShardRecordsPerSec ?? KINESIS_SHARD_RECORDS_PER_SEC),
      bytesPerSec: opts.shardCount * (opts.perShardBytesPerSec ?? KINESIS_SHARD_BYTES_PER_SEC),
    };
  }
  return {
    sink: opts.sink,
    stream: opts.stream,
    metrics: opts.metrics ?? new GatewayMetrics(),
    scheme: opts.scheme ?? new PartitionScheme(opts.shardCount ?? DEFAULT_PARTITION_BUCKETS),
    recordTargetBytes: checkRecordTarget(opts.recordTargetBytes ?? KINESIS_PUT_PAYLOAD_UNIT_BYTES),
    lingerMs,
    maxPutsInFlight,
    maxRecordsPerPut,
    maxBytesPerPut,
    baseDelayMs: opts.baseDelayMs ?? 50,
    maxDelayMs: opts.maxDelayMs ?? 5000,
    maxAttempts: opts.maxAttempts ?? 20,
    random: opts.random ?? Math.random,
    rates,
  };
}
