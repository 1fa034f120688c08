/**
 * The writer's options, their defaults and the Kinesis quotas they default to. Checked
 * once at construction (RangeError naming the option; the gateway turns it into a
 * ConfigInvalid error).
 */
import { KINESIS_MAX_BYTES_PER_PUT, KINESIS_MAX_RECORD_BYTES, KINESIS_MAX_RECORDS_PER_PUT, KINESIS_PUT_PAYLOAD_UNIT_BYTES } from '../../protocol/limits.js';
import { ShardLayout, type ShardRange } from '../../backend/kinesis/partition-keys.js';
import { checkRecordTarget } from '../batch-records.js';
import { GatewayMetrics } from '../metrics.js';
import type { PutRecordsSink } from './sink.js';

export interface KinesisWriterOptions {
  sink: PutRecordsSink;
  stream: string;
  metrics?: GatewayMetrics;
  /** Target size of an aggregated record, data plus partition key, 1 KiB to 1 MiB. @default 25 KiB (one PUT payload unit) */
  recordTargetBytes?: number;
  /**
   * Longest wait of a shard's records behind a call already in flight for that shard
   * (packing.ts, adaptive linger); with no call in flight they go at once. 0 never waits.
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
   * The stream's open shards (ListShards without the closed ones), asked at start and
   * every `shardRefreshMs`: records are packed per shard and puts paced under the
   * per-shard write limits times the open shard count, and both follow a reshard.
   * @default undefined (shardCount, else one range over the whole key space and no pacing)
   */
  listShards?: () => Promise<ShardRange[]>;
  /** How often listShards is asked. @default 2000 (DEFAULT_SHARD_REFRESH_MS) */
  shardRefreshMs?: number;
  /**
   * Without listShards: a fixed layout of this many equal shards (as CreateStream makes
   * them), to pack and pace by.
   * @default undefined
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
 * The bound on the adaptive linger: how long a shard's records may wait behind a call in
 * flight for that shard. Records wait only then (an idle pipeline sends at once), so this
 * bounds the gateway latency that aggregation adds, about one PutRecords call (10-30 ms
 * on AWS), small next to any hunt window (>= 1 s).
 */
export const DEFAULT_LINGER_MS = 10;

/**
 * How often the writer asks for the open shards. ListShards allows 1,000 calls/s per
 * stream (AWS Kinesis API reference, ListShards); every 2 s follows a reshard within
 * seconds at a negligible share of that.
 */
export const DEFAULT_SHARD_REFRESH_MS = 2000;

/** The options with every default filled in and every limit checked. */
export interface ResolvedWriterOptions {
  sink: PutRecordsSink;
  stream: string;
  metrics: GatewayMetrics;
  /** The layout to start with: shardCount's, else one range (listShards replaces it). */
  layout: ShardLayout;
  /** Whether `layout` is the stream's (shardCount) and puts are paced by it from the start. */
  layoutKnown: boolean;
  listShards: (() => Promise<ShardRange[]>) | undefined;
  shardRefreshMs: number;
  recordTargetBytes: number;
  lingerMs: number;
  maxPutsInFlight: number;
  maxRecordsPerPut: number;
  maxBytesPerPut: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  random: () => number;
  /** One shard's write quota, times the open shards once their count is known. */
  perShard: { recordsPerSec: number; bytesPerSec: number };
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
  const shardRefreshMs = opts.shardRefreshMs ?? DEFAULT_SHARD_REFRESH_MS;
  if (!(shardRefreshMs >= 10)) throw new RangeError(`shardRefreshMs=${shardRefreshMs}: must be >= 10`);
  const layout = opts.shardCount !== undefined ? ShardLayout.uniform(opts.shardCount) : ShardLayout.whole();
  return {
    sink: opts.sink,
    stream: opts.stream,
    metrics: opts.metrics ?? new GatewayMetrics(),
    layout,
    layoutKnown: opts.shardCount !== undefined,
    listShards: opts.listShards,
    shardRefreshMs,
    recordTargetBytes: checkRecordTarget(opts.recordTargetBytes ?? KINESIS_PUT_PAYLOAD_UNIT_BYTES),
    lingerMs,
    maxPutsInFlight,
    maxRecordsPerPut,
    maxBytesPerPut,
    baseDelayMs: opts.baseDelayMs ?? 50,
    maxDelayMs: opts.maxDelayMs ?? 5000,
    maxAttempts: opts.maxAttempts ?? 20,
    random: opts.random ?? Math.random,
    perShard: { recordsPerSec: opts.perShardRecordsPerSec ?? KINESIS_SHARD_RECORDS_PER_SEC, bytesPerSec: opts.perShardBytesPerSec ?? KINESIS_SHARD_BYTES_PER_SEC },
  };
}
