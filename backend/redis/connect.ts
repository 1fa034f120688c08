/**
 * Connecting to Redis. Starting one when none answers is embedded-server.ts.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { logger } from '../../common/log.js';

const log = logger('redis');

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * ioredis by default resends commands that were in flight when the connection dropped;
 * every write we make is idempotent (Lua scripts keyed by ids, SET/ZADD/HSETNX), so
 * that is safe, and we keep retrying rather than failing requests during a restart.
 */
export function redisOptions(extra: RedisOptions = {}): RedisOptions {
  // disconnectTimeout: how long disconnect() lets a socket end gracefully before destroying
  // it. ioredis's 2 s default kept a stopping process alive that long when Redis was down.
  return { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: true, disconnectTimeout: 200, ...extra };
}

/** Resolves true when a Redis answers PING at `url` within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

export async function connectRedis(url: string, extra: RedisOptions = {}): Promise<Redis> {
  const r = new Redis(url, redisOptions(extra));
  r.on('error', (err) => log.warn({ err }, 'redis connection error'));
  await r.connect();
  return r;
}

/** `host:port,host:port,...` (CAIRN_REDIS_CLUSTER) as ioredis' seed nodes. */
export function clusterSeeds(list: string): { host: string; port: number }[] {
  return list.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
  });
}

/**
 * A Redis Cluster through ioredis' Cluster client, from seed nodes. Every key Cairn uses
 * carries a hash tag and every script touches one slot (keys.ts), so the gateway and the
 * worker run on it unchanged: the client is typed as `Redis`, whose commands Cluster
 * implements with the same signatures (pipelines and MULTI stay within one slot).
 *
 * Measured on loopback (docs/operations.md): a killed master's replica takes over after
 * about 3.5 s, and on default settings ioredis failed about 4% of writes meanwhile with
 * "Too many Cluster redirections". Hence the longer redirection budget and retry delays
 * here, and lua-script.ts retries our (idempotent) scripts on CLUSTERDOWN and TRYAGAIN.
 */
export async function connectRedisCluster(seeds: string, extra: ClusterOptions = {}): Promise<Redis> {
  const c = new Cluster(clusterSeeds(seeds), {
    redisOptions: redisOptions(),
    lazyConnect: true,
    enableReadyCheck: true,
    maxRedirections: 64,
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
    retryDelayOnTryAgain: 200,
    // Refresh the slot map soon after a failover is seen, not only on MOVED.
    slotsRefreshTimeout: 2000,
    clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    ...extra,
  });
  c.on('error', (err) => log.warn({ err }, 'redis cluster error'));
  c.on('node error', (err, node) => log.warn({ err, node }, 'redis cluster node error'));
  await c.connect();
  return c as unknown as Redis;
}
