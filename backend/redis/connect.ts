/**
 * Connecting to Redis. Starting one when none answers is embedded-server.ts.
 */
import { Redis, type RedisOptions } from 'ioredis';
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
