/**
 * The Redis settings check `cairn worker` runs at start, against real redis-server
 * processes configured each way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectRedis } from '../../backend/redis/connect.js';
import { startRedisServer, type RedisServerHandle } from '../../backend/redis/embedded-server.js';
import { redisSettingsWarnings } from '../../worker/worker.js';

const servers: RedisServerHandle[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function warningsFor(args: string[]): Promise<string[]> {
  const h = await startRedisServer(args);
  servers.push(h);
  const redis = await connectRedis(h.url);
  try {
    return await redisSettingsWarnings(redis);
  } finally {
    redis.disconnect();
  }
}

describe('redisSettingsWarnings', () => {
  it('warns about an evicting policy and no appendonly, naming the setting to use', async () => {
    const w = await warningsFor(['--maxmemory-policy', 'allkeys-lfu']);
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/maxmemory-policy is allkeys-lfu.*set maxmemory-policy noeviction/);
    expect(w[1]).toMatch(/appendonly is no.*set appendonly yes/);
  });

  it('is silent for noeviction with appendonly', async () => {
    expect(await warningsFor(['--maxmemory-policy', 'noeviction', '--appendonly', 'yes'])).toEqual([]);
  });
});
