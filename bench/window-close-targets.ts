/**
 * Where a window-close measurement runs: one Redis (the one at CAIRN_REDIS_URL, or one
 * started for the run), or a Redis Cluster of 3 masters and 3 replicas started for the run.
 */
import type { Cluster, Redis } from 'ioredis';
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

/** Removes the keys under `prefix` from one node (one at a time: a node holds many slots). */
async function cleanNode(node: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [nextCursor, found] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = nextCursor;
    if (found.length) await Promise.all(found.map((k) => node.unlink(k)));
  } while (cursor !== '0');
}

export async function singleRedis(): Promise<Target> {
  const r = await resolveRedis(process.env.CAIRN_REDIS_URL ?? DEFAULT_REDIS_URL, true);
  const redis = await connectRedis(r.url);
  return {
    label: 'one Redis', redis, workerUrl: r.url,
    clean: (prefix) => cleanNode(redis, prefix),
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
    async clean(prefix) {
      await Promise.all((redis as unknown as Cluster).nodes('master').map((node) => cleanNode(node, prefix)));
    },
    async stop() {
      redis.disconnect();
      await cluster.stop();
    },
  };
}
