/**
 * The frontier over silent servers (worker/window-frontier.ts), on real Redis: the
 * registry and watermarks are written as ingest writes them, with their `at` set relative
 * to Redis's own clock.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connectRedis, DEFAULT_REDIS_URL } from '../../backend/redis/connect.js';
import { resolveRedis } from '../../backend/redis/embedded-server.js';
import { RedisKeys } from '../../backend/redis/keys.js';
import { redisTimeMs } from '../../backend/redis/time.js';
import { readFrontier } from '../../worker/window-frontier.js';

let redis: Redis;
let stopRedis: () => Promise<void>;
beforeAll(async () => {
  const r = await resolveRedis(process.env.CAIRN_REDIS_URL ?? DEFAULT_REDIS_URL, true);
  stopRedis = r.stop;
  redis = await connectRedis(r.url);
});
const written: string[] = [];
afterAll(async () => {
  if (written.length) await redis.del(...written);
  redis.disconnect();
  await stopRedis();
});

/** Registers each server (epoch 1) with watermark `wm`, its last record `agoMs` before Redis's now. */
async function servers(marks: Record<string, { wm: number; agoMs: number } | null>): Promise<RedisKeys> {
  const keys = new RedisKeys(`cairn-test:frontier:${randomBytes(4).toString('hex')}`);
  const now = redisTimeMs(await redis.time());
  for (const [server, m] of Object.entries(marks)) {
    await redis.hset(keys.servers(), server, '1');
    written.push(keys.servers(), keys.watermark(server, 1));
    if (m) await redis.hset(keys.watermark(server, 1), 'wm', String(m.wm), 'at', String(now - m.agoMs));
  }
  return keys;
}

describe('readFrontier', () => {
  it('leaves out a server silent past the timeout while another is active', async () => {
    const keys = await servers({ 'srv-a': { wm: 30_000, agoMs: 100 }, 'srv-b': { wm: 500, agoMs: 5_000 } });
    const f = await readFrontier(redis, keys, 1_000);
    expect(f.silent).toEqual(['srv-b']);
    expect(f.wm).toBe(30_000);
  });

  it('when every server is quiet, those that were holding windows a moment ago still hold them; one silent long before stays out', async () => {
    const keys = await servers({ 'srv-a': { wm: 30_000, agoMs: 2_000 }, 'srv-c': { wm: 20_000, agoMs: 2_500 }, 'srv-b': { wm: 500, agoMs: 9_000 } });
    const f = await readFrontier(redis, keys, 1_000);
    expect(f.silent).toEqual(['srv-a', 'srv-b', 'srv-c']);
    // srv-b went quiet 7 s before the last record: it does not pull the frontier back to 500.
    expect(f.wm).toBe(20_000);
  });

  it('holds every window while a server with no watermark is inside the timeout, and none past it when nothing ever sent', async () => {
    const fresh = await servers({ 'srv-a': { wm: 30_000, agoMs: 10 }, 'srv-new': null });
    expect((await readFrontier(redis, fresh, 1_000, (_s, now) => now)).wm).toBeUndefined();
    const quiet = await servers({ 'srv-x': null, 'srv-y': null });
    const f = await readFrontier(redis, quiet, 1_000, (_s, now) => now - 5_000);
    expect(f.silent).toEqual(['srv-x', 'srv-y']);
    expect(f.wm).toBeUndefined();
  });
});
