/**
 * Real Redis for tests (no mocks): the shared one (CAIRN_TEST_REDIS_URL, default
 * 127.0.0.1:6379), each test with its own random key prefix, deleted afterwards.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { connectRedis, DEFAULT_REDIS_URL } from '../../backend/redis/connect.js';
import { RedisKeys } from '../../backend/redis/keys.js';

export const TEST_REDIS_URL = process.env.CAIRN_TEST_REDIS_URL ?? DEFAULT_REDIS_URL;

export function uniquePrefix(name = 't'): string {
  return `cairn-test:${name}:${randomBytes(4).toString('hex')}`;
}

export async function testRedis(name?: string): Promise<{ redis: Redis; prefix: string; keys: RedisKeys; cleanup(): Promise<void> }> {
  const redis = await connectRedis(TEST_REDIS_URL);
  const prefix = uniquePrefix(name);
  return {
    redis,
    prefix,
    keys: new RedisKeys(prefix),
    async cleanup() {
      await deletePrefix(redis, prefix);
      redis.disconnect();
    },
  };
}

export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}
