/** The hello and set-durable Lua scripts against a real Redis. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DurableSeqs } from '../../gateway/durable-seqs.js';
import { testRedis } from '../support/redis.js';
import { startRedisServer } from '../../backend/redis/embedded-server.js';
import { connectRedis } from '../../backend/redis/connect.js';

describe('DurableSeqs (Redis Lua)', () => {
  let r: Awaited<ReturnType<typeof testRedis>>;
  let d: DurableSeqs;
  beforeEach(async () => {
    r = await testRedis('durable');
    d = new DurableSeqs(r.redis, r.keys);
  });
  afterEach(async () => {
    await r.cleanup();
  });

  it('registers a new (server, epoch) with durable 0', async () => {
    expect(await d.hello('srv-a', 5)).toEqual({ ok: true, durable: 0 });
    expect(await r.redis.hget(r.keys.servers(), 'srv-a')).toBe('5');
  });

  it('raises the durable seq only upward, idempotently', async () => {
    await d.hello('srv-a', 1);
    expect(await d.raise('srv-a', 1, 3)).toBe(3);
    expect(await d.raise('srv-a', 1, 3)).toBe(3);
    expect(await d.raise('srv-a', 1, 2)).toBe(3);
    expect(await d.get('srv-a', 1)).toBe(3);
    expect(await d.raise('srv-a', 1, 7)).toBe(7);
    expect(await d.hello('srv-a', 1)).toEqual({ ok: true, durable: 7 });
    const ttl = await r.redis.pttl(r.keys.durable('srv-a', 1));
    expect(ttl).toBeGreaterThan(6 * 24 * 3600 * 1000);
  });

  it('starts a newer epoch at 0 and fences the older one out of hello and raise', async () => {
    await d.hello('srv-a', 1);
    await d.raise('srv-a', 1, 4);
    const epoch2 = 1_764_331_200_123; // epochs may be ms timestamps: beyond 32 bits
    expect(await d.hello('srv-a', epoch2)).toEqual({ ok: true, durable: 0 });
    expect(await d.hello('srv-a', 1)).toEqual({ ok: false, newestEpoch: epoch2 });
    expect(await d.raise('srv-a', 1, 5)).toBe('fenced');
    expect(await d.get('srv-a', 1)).toBe(4);
    expect(await d.raise('srv-a', epoch2, 1)).toBe(1);
    // Other servers are independent.
    expect(await d.hello('srv-b', 1)).toEqual({ ok: true, durable: 0 });
  });

  it('raises asked for in one tick go together, each with its own answer (a fenced one too)', async () => {
    for (const s of ['srv-a', 'srv-b', 'srv-c']) await d.hello(s, 2);
    await d.raise('srv-b', 2, 9);
    await d.hello('srv-c', 3); // fences epoch 2 of srv-c
    const res = await Promise.all([d.raise('srv-a', 2, 4), d.raise('srv-b', 2, 5), d.raise('srv-c', 2, 1), d.raise('srv-a', 2, 6)]);
    expect(res).toEqual([4, 9, 'fenced', 6]);
    expect(await d.get('srv-a', 2)).toBe(6);
    expect(await d.get('srv-c', 2)).toBe(0);
  });

  it('raises that meet NOSCRIPT (a Redis that lost its scripts) are sent again alone and land', async () => {
    const own = await startRedisServer();
    const redis = await connectRedis(own.url);
    try {
      const o = new DurableSeqs(redis, r.keys);
      await o.hello('srv-a', 1);
      await o.hello('srv-b', 1);
      expect(await o.raise('srv-a', 1, 1)).toBe(1); // the script is loaded now
      await redis.script('FLUSH');
      expect(await Promise.all([o.raise('srv-a', 1, 3), o.raise('srv-b', 1, 2)])).toEqual([3, 2]);
      expect(await o.get('srv-a', 1)).toBe(3);
    } finally {
      redis.disconnect();
      await own.stop();
    }
  });
});

