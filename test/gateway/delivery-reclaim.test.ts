/**
 * gateway/delivery.ts on its own against real Redis: entries left pending on a reader that
 * is gone (another gateway's half-open connection) are taken over and delivered again
 * (XAUTOCLAIM), and the window close -> ack latency is observed from the entry id.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Histogram } from 'prom-client';
import { Delivery, ensureDeliveryGroup } from '../../gateway/delivery.js';
import { DELIVERY_LATENCY_METRIC } from '../../gateway/metrics.js';
import { GatewayMetrics } from '../../gateway/metrics.js';
import { DELIVERY_GROUP, type RedisKeys } from '../../backend/redis/keys.js';
import type { Prize, WindowClosed } from '../../protocol/index.js';
import { testRedis } from '../support/redis.js';

let r: Awaited<ReturnType<typeof testRedis>>;
let redis: Redis;
let keys: RedisKeys;
const deliveries: Delivery[] = [];

beforeEach(async () => {
  r = await testRedis('delivery-reclaim');
  redis = r.redis;
  keys = r.keys;
});
afterEach(async () => {
  await Promise.all(deliveries.splice(0).map((d) => d.stop()));
  await r.cleanup();
});

async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

function start(server: string, metrics: GatewayMetrics, reclaimIdleMs: number): { got: (Prize | WindowClosed)[]; d: Delivery } {
  const got: (Prize | WindowClosed)[] = [];
  const d = new Delivery({ redis, keys, server, metrics, blockMs: 100, reclaimIdleMs, send: (m) => (got.push(...m), true) });
  deliveries.push(d);
  d.start();
  return { got, d };
}

const addPrize = async (server: string, reason: string) =>
  (await redis.xadd(keys.prizeStream(server), '*', 'kind', 'prize', 'hunt', 'h', 'reason', reason, 'player', 'p', 'item', 'gold', 'count', '1'))!;

describe('delivery: entries stuck on a reader that is gone', () => {
  it('are taken over once they have been idle reclaimIdleMs, delivered again, and acked', async () => {
    const key = keys.prizeStream('srv-a');
    await ensureDeliveryGroup(redis, key);
    const id = await addPrize('srv-a', 'r:1');
    // A reader on another gateway claimed it after the server reconnected here (so our reader's start-up pass over
    // its pending list missed it), then its connection went quiet: the entry sits pending under a consumer nobody reads.
    await redis.call('XREADGROUP', 'GROUP', DELIVERY_GROUP, 'ghost-of-srv-a', 'COUNT', 10, 'STREAMS', key, '>');
    const metrics = new GatewayMetrics();
    const { got, d } = start('srv-a', metrics, 300);
    await eventually('the stuck entry delivered', () => got.some((m) => 'id' in m && m.id === id));
    await d.ack([id]);
    const pending = (await redis.call('XPENDING', key, DELIVERY_GROUP)) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
    expect(metrics.stats.prizeAcks).toBe(1);
  });

  it('with reclaim off, such an entry stays undelivered', async () => {
    const key = keys.prizeStream('srv-a');
    await ensureDeliveryGroup(redis, key);
    await addPrize('srv-a', 'r:1');
    await redis.call('XREADGROUP', 'GROUP', DELIVERY_GROUP, 'ghost-of-srv-a', 'COUNT', 10, 'STREAMS', key, '>');
    const { got } = start('srv-a', new GatewayMetrics(), 0);
    // Two new entries, each awaited: between their deliveries the reader went once round its
    // loop, where a reclaim would run, and still only new entries came.
    const first = await addPrize('srv-a', 'marker:1');
    await eventually('the first marker delivered', () => got.length >= 1);
    const second = await addPrize('srv-a', 'marker:2');
    await eventually('the second marker delivered', () => got.length >= 2);
    expect(got.map((m) => m.id)).toEqual([first, second]);
  });
});

describe('delivery latency', () => {
  it('observes window close (the entry id) -> ack per entry kind, once per delivered entry', async () => {
    const metrics = new GatewayMetrics();
    // An entry appended "2 s ago": its id carries the Redis time of the commit.
    const [sec] = await redis.time();
    const old = `${Number(sec) * 1000 - 2000}-0`;
    await redis.xadd(keys.prizeStream('srv-a'), old, 'kind', 'prize', 'hunt', 'h', 'reason', 'r:1', 'player', 'p', 'item', 'gold', 'count', '1');
    const closed = (await redis.xadd(keys.prizeStream('srv-a'), '*', 'kind', 'closed', 'hunt', 'h', 'start', '0', 'end', '1000'))!;
    const { got, d } = start('srv-a', metrics, 0);
    await eventually('two deliveries', () => got.length === 2);
    await d.ack([old, closed]);
    await d.ack([old]); // a repeated ack is not observed twice
    await d.ack(['0-1']); // nor an id this delivery never sent
    const h = metrics.registry.getSingleMetric(DELIVERY_LATENCY_METRIC) as Histogram<'kind'>;
    const values = (await h.get()).values;
    const count = (kind: string) => values.find((v) => v.metricName === `${DELIVERY_LATENCY_METRIC}_count` && v.labels.kind === kind)?.value;
    const sum = (kind: string) => values.find((v) => v.metricName === `${DELIVERY_LATENCY_METRIC}_sum` && v.labels.kind === kind)?.value;
    expect(count('prize')).toBe(1);
    expect(count('closed')).toBe(1);
    expect(sum('prize')).toBeGreaterThanOrEqual(2);
    expect(sum('closed')).toBeLessThan(sum('prize')!);
  });
});
