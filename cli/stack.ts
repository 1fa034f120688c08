/**
 * The composition of the back end for one process: Redis (external or started for
 * the run), Kinesis (CAIRN_KINESIS_ENDPOINT or embedded kinesalite), the gateway and
 * any number of workers. Used by `cairn demo`, `cairn replay`, `cairn gateway`,
 * `cairn worker` and the integration tests.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { logger } from '../common/log.js';
import type { EnvConfig } from '../backend/config.js';
import { connectRedis, connectRedisCluster, connectRedisSentinel } from '../backend/redis/connect.js';
import { resolveRedis } from '../backend/redis/embedded-server.js';
import { ensureStream, resolveKinesis } from '../backend/kinesis/client.js';
import { RedisKeys } from '../backend/redis/keys.js';
import { startGateway, type Gateway } from '../gateway/server.js';
import { kinesisSink, type PutRecordsSink } from '../gateway/kinesis-writer/sink.js';
import { startWorker, type Worker } from '../worker/worker.js';
import { eventTap } from '../gateway/live-page/event-tap.js';
import { startLivePage, type LivePage } from '../gateway/live-page/server.js';

const log = logger('stack');

export interface StackOptions {
  config: Readonly<EnvConfig>;
  /** start redis-server / kinesalite when none is configured or reachable */
  embedded: boolean;
  gateway: boolean;
  workers: number;
  /** fresh key prefix (and stream name when Kinesis is shared) for this run */
  isolate?: boolean;
  /** gateway port; 0 = any free port */
  port?: number;
  pollMs?: number;
  /**
   * The workers' pause after an empty read (worker option idleReadMs). With a gateway in
   * the stack, its puts wake the workers' readers at once, so this can be long. @default pollMs
   */
  idleReadMs?: number;
  registry?: Registry;
  /** live hunt page port (0 = any free port); overrides CAIRN_PAGE_PORT; needs the gateway */
  pagePort?: number;
}

export interface Stack {
  redis: Redis;
  keys: RedisKeys;
  kinesis: KinesisClient;
  stream: string;
  gateway?: Gateway;
  /** the live hunt page, when on */
  page?: LivePage;
  workers: Worker[];
  registry: Registry;
  /** the Redis URL, or `cluster host:port,...` */
  redisUrl: string;
  kinesisEndpoint: string | undefined;
  stop(): Promise<void>;
}

/** CAIRN_REDIS_SENTINELS set: nothing to start; the URL-like name is what logs show. */
function sentinelTarget(config: Readonly<EnvConfig>): { url: string; stop(): Promise<void> } {
  const hosts = (config.redisSentinels ?? []).map((s) => `${s.host}:${s.port}`).join(',');
  return { url: `sentinel://${hosts}/${config.redisMasterName}`, stop: async () => {} };
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const { config } = opts;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) {
      try {
        await s();
      } catch (err) {
        log.warn({ err }, 'error while stopping');
      }
    }
  };
  try {
    const runId = randomBytes(4).toString('hex');
    const r = await stackRedis(config, opts.embedded);
    stops.push(() => r.stop());
    const redis = r.redis;
    stops.push(async () => redis.disconnect());
    const prefix = opts.isolate ? `${config.redisPrefix}:run-${runId}` : config.redisPrefix;
    const keys = new RedisKeys(prefix);
    const k = await resolveKinesis(config.kinesisEndpoint, opts.embedded);
    stops.push(() => k.stop());
    // An embedded kinesalite is this run's alone; a shared Kinesis gets a stream per run.
    const stream = opts.isolate && config.kinesisEndpoint ? `${config.kinesisStream}-${runId}` : config.kinesisStream;
    await ensureStream(k.client, stream, config.kinesisShards);
    const registry = opts.registry ?? new Registry();
    let gateway: Gateway | undefined;
    let page: LivePage | undefined;
    const pagePort = opts.gateway ? (opts.pagePort ?? config.pagePort) : undefined;
    const workers: Worker[] = [];
    if (opts.gateway) {
      const tap = pagePort !== undefined ? { tap: eventTap(redis, keys, registry) } : {};
      // The workers of this stack read what its gateway put as soon as it is in the stream.
      const sink = opts.workers > 0 ? { sink: waking(kinesisSink(k.client), workers) } : {};
      gateway = await startGateway({ port: opts.port ?? config.gatewayPort, token: config.token, redis, keys, kinesis: k.client, stream, registry, recordTargetBytes: config.recordBytes, putLingerMs: config.putLingerMs, ...tap, ...sink });
      stops.push(() => gateway!.close());
    }
    if (pagePort !== undefined) {
      page = await startLivePage({ port: pagePort, redis, keys, registry, adminToken: config.pageAdminToken });
      stops.push(() => page!.close());
    }
    for (let i = 0; i < opts.workers; i++) {
      const w = await startWorker({
        redis,
        keys,
        kinesis: k.client,
        stream,
        graceMs: config.graceMs,
        silentServerMs: config.silentServerMs,
        ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
        ...(opts.idleReadMs !== undefined ? { idleReadMs: opts.idleReadMs } : {}),
        registry: i === 0 ? registry : new Registry(),
      });
      workers.push(w);
      stops.push(() => w.stop());
    }
    return { redis, keys, kinesis: k.client, stream, gateway, ...(page ? { page } : {}), workers, registry, redisUrl: r.label, kinesisEndpoint: k.endpoint, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** PutRecords through `sink`, waking `workers` after each call that put records. */
function waking(sink: PutRecordsSink, workers: readonly Worker[]): PutRecordsSink {
  return {
    putRecords: async (input) => {
      const res = await sink.putRecords(input);
      if ((res.FailedRecordCount ?? 0) < input.Records.length) for (const w of workers) w.wake();
      return res;
    },
  };
}

/**
 * The Redis of the stack: a Redis Cluster from its seed nodes when CAIRN_REDIS_CLUSTER
 * is set (never started for the run, and never the single-node URL as a fallback), else
 * the Redis at CAIRN_REDIS_URL, started when `embedded` and none answers.
 */
async function stackRedis(config: Readonly<EnvConfig>, embedded: boolean): Promise<{ redis: Redis; label: string; stop(): Promise<void> }> {
  if (config.redisSentinels !== undefined) {
    const t = sentinelTarget(config);
    const redis = await connectRedisSentinel(config.redisSentinels, config.redisMasterName);
    return { redis, label: t.url, stop: t.stop };
  }
  if (config.redisCluster !== undefined) {
    const redis = await connectRedisCluster(config.redisCluster);
    return { redis, label: `cluster ${config.redisCluster}`, stop: async () => {} };
  }
  const r = await resolveRedis(config.redisUrl, embedded);
  try {
    return { redis: await connectRedis(r.url), label: r.url, stop: () => r.stop() };
  } catch (err) {
    await r.stop();
    throw err;
  }
}
