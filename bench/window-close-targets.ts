/**
 * Where a window-close measurement runs: one Redis (the one at CAIRN_REDIS_URL, or one
 * started for the run), or a Redis Cluster of 3 masters and 3 replicas started for the run.
 */
import type { Redis } from 'ioredis';
import { connectRedis, connectRedisCluster, DEFAULT_REDIS_URL } from '../backend/redis/connect.js';
import { resolveRedis } from '../backend/redis/embedded-server.js';
import { startTestCluster } from '../test/support/redis-cluster.js';
import { CLUSTER_URL } from './window-close-worker.js';

/** Where one measurement runs: one Redis, or a Redis Cluster of 3 masters and 3 replicas. */
export interface Target {
  label: string;
  redis: Redis;
  /** the <redis url> argument of bench/window-close-worker.ts */
  workerUrl: string;
  /** removes one measurement's keys */
  clean(prefix: string): Promise<void>;
  /** stops what was started */
  stop(): Promise<void>;
}

export async function singleRedis(): Promise<Target> {
  const r = await resolveRedis(process.env.CAIRN_REDIS_URL ?? DEFAULT_REDIS_URL, true);
  const redis = await connectRedis(r.url);
  return {
    label: 'one Redis', redis, workerUrl: r.url,
    async clean(prefix) {
      let cursor = '0';
      do {
        const [nextCursor, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = nextCursor;
        if (found.length) await redis.del(...found);
      } while (cursor !== '0');
    },
    async stop() {
      redis.disconnect();
      await r.stop();
    },
  };
}

export async function redisCluster(): Promise<Target> {
  const cluster = await startTestCluster();
  const redis = await connectRedisCluster(cluster.seeds);
  return {
    label: 'Redis Cluster (3 masters, 3 replicas)', redis, workerUrl: `${CLUSTER_URL}${cluster.seeds}`,
    // A new prefix per measurement; the cluster goes with its keys.
    async clean() {},
    async stop() {
      redis.disconnect();
      await cluster.stop();
    },
  };
}
