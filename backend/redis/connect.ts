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
  // socketTimeout: a connection with commands waiting and no byte from Redis for this long
  // is destroyed, and ioredis reconnects and resends them. Without it a half-open
  // connection (the peer gone without a FIN or RST: a NAT that forgot the flow, a host
  // that vanished) left every command waiting for hours, until TCP keepalive gave up.
  // Longer than any reply we wait for (the gateway's blocking XREADGROUP takes 1 s).
  return { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: true, disconnectTimeout: 200, socketTimeout: 10_000, ...extra };
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

/** Where a Redis Sentinel listens (CAIRN_REDIS_SENTINELS). */
export interface SentinelAddress {
  host: string;
  port: number;
}

/**
 * Connects to the primary the Sentinels name `masterName`, and follows it through a
 * failover. While the Sentinels promote a replica (2-3 s) commands wait in ioredis's
 * queue (maxRetriesPerRequest: null) and `error` events report ECONNREFUSED and "All
 * sentinels are unreachable": logged, never fatal.
 *
 * No `failoverDetector`: with it, a +switch-master announcement arriving while the client
 * was already reconnecting after the primary died ended the client for good (every later
 * command: "Connection is closed."; seen in 1 of 3 runs of the Sentinel test). Without it
 * ioredis asks the Sentinels again when its connection drops, which a dead primary
 * causes, and checks that the node it reaches is a master. A primary that the Sentinels
 * demote while the connection stays up answers writes with READONLY: reconnect (through
 * the Sentinels) and resend then.
 */
export async function connectRedisSentinel(sentinels: SentinelAddress[], masterName: string, extra: RedisOptions = {}): Promise<Redis> {
  const r = new Redis(
    redisOptions({
      sentinels,
      name: masterName,
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
      // The default backoff (up to 2 s) added ~1.5 s to the stall after a promotion.
      retryStrategy: (attempt) => Math.min(attempt * 50, 500),
      sentinelRetryStrategy: (attempt) => Math.min(attempt * 50, 500),
      ...extra,
    }),
  );
  r.on('error', (err) => log.warn({ err, masterName }, 'redis connection error (through sentinels)'));
  await r.connect();
  return r;
}
