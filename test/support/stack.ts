/** A whole back end for an integration test: its own Redis prefix, its own kinesalite. */
import { loadEnvConfig } from '../../backend/config.js';
import { startStack, type Stack } from '../../cli/stack.js';
import { deletePrefix, TEST_REDIS_URL } from './redis.js';

export async function testStack(opts: { workers?: number; graceMs?: number; shards?: number; pagePort?: number } = {}): Promise<Stack & { cleanup(): Promise<void> }> {
  const config = loadEnvConfig({
    CAIRN_REDIS_URL: TEST_REDIS_URL,
    CAIRN_REDIS_PREFIX: 'cairn-test',
    CAIRN_WINDOW_GRACE_MS: String(opts.graceMs ?? 0),
    CAIRN_KINESIS_SHARDS: String(opts.shards ?? 2),
  });
  const stack = await startStack({ config, embedded: true, gateway: true, workers: opts.workers ?? 1, isolate: true, port: 0, pollMs: 20, ...(opts.pagePort !== undefined ? { pagePort: opts.pagePort } : {}) });
  return Object.assign(stack, {
    async cleanup() {
      const prefix = stack.keys.prefix;
      const redis = stack.redis;
      await deletePrefix(redis, prefix);
      await stack.stop();
    },
  });
}
