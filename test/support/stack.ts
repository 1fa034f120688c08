/** A whole back end for an integration test: its own Redis prefix, its own kinesalite. */
import { loadEnvConfig } from '../../backend/config.js';
import { startStack, type Stack } from '../../cli/stack.js';
import { deletePrefix, TEST_REDIS_URL } from './redis.js';

/**
 * With `redisCluster` (seed nodes of a test's own cluster, test/support/redis-cluster.ts)
 * the stack runs on it; CAIRN_REDIS_URL then points at a dead port, so a stack that fell
 * back to the single-node Redis would fail instead of passing on the wrong Redis.
 */
export async function testStack(opts: { workers?: number; graceMs?: number; shards?: number; pagePort?: number; redisCluster?: string; idleReadMs?: number } = {}): Promise<Stack & { cleanup(): Promise<void> }> {
  const config = loadEnvConfig({
    CAIRN_REDIS_URL: opts.redisCluster === undefined ? TEST_REDIS_URL : 'redis://127.0.0.1:9',
    ...(opts.redisCluster === undefined ? {} : { CAIRN_REDIS_CLUSTER: opts.redisCluster }),
    CAIRN_REDIS_PREFIX: 'cairn-test',
    CAIRN_WINDOW_GRACE_MS: String(opts.graceMs ?? 0),
    CAIRN_KINESIS_SHARDS: String(opts.shards ?? 2),
  });
  const stack = await startStack({ config, embedded: true, gateway: true, workers: opts.workers ?? 1, isolate: true, port: 0, pollMs: 20, ...(opts.pagePort !== undefined ? { pagePort: opts.pagePort } : {}), ...(opts.idleReadMs !== undefined ? { idleReadMs: opts.idleReadMs } : {}) });
  return Object.assign(stack, {
    async cleanup() {
      const prefix = stack.keys.prefix;
      const redis = stack.redis;
      // A test's own cluster is flushed or stopped by the test.
      if (opts.redisCluster === undefined) await deletePrefix(redis, prefix);
      await stack.stop();
    },
  });
}
