/** The live page's parts on their own: the batch tap (real Redis), the rate history, stream id order. */
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import type { WireEvent } from '../../protocol/index.js';
import { ENTRIES_KEPT, eventTap, type TappedEntry } from '../../gateway/live-page/event-tap.js';
import { RateHistory } from '../../gateway/live-page/rates.js';
import { compareStreamIds } from '../../gateway/live-page/prize-progress.js';
import { testRedis } from '../support/redis.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

const join = (p: string, n: number): WireEvent => ({ k: 'join', p, i: n, e: 1, n, t: 1000 + n });
const leave = (p: string, n: number): WireEvent => ({ k: 'leave', p, e: 1, n, t: 1000 + n });
const enter = (p: string, n: number, sus?: 1): WireEvent => ({ k: 'enter', p, hunt: 'h1', tr: 'oak', region: 'r1', at: [n, 64, -n], e: 1, n, t: 1000 + n, ...(sus ? { sus } : {}) });

describe('event tap', () => {
  it('keeps players online per server epoch, the same after a resent batch', async () => {
    const r = await testRedis('tap');
    cleanup = r.cleanup;
    const tap = eventTap(r.redis, r.keys, new Registry());
    const batch = [join('ann', 1), join('bob', 2), leave('ann', 3), join('cid', 4)];
    tap('srv-a', 1, batch);
    tap('srv-a', 1, batch);
    tap('srv-a', 2, [join('dan', 1)]);
    await r.redis.ping(); // after the pipelines, on the same connection
    expect((await r.redis.smembers(r.keys.online('srv-a', 1))).sort()).toEqual(['bob', 'cid']);
    expect(await r.redis.smembers(r.keys.online('srv-a', 2))).toEqual(['dan']);
    expect(await r.redis.ttl(r.keys.online('srv-a', 1))).toBeGreaterThan(0);
  });

  it('keeps the latest entries of a hunt, newest first, suspects flagged, capped', async () => {
    const r = await testRedis('tap');
    cleanup = r.cleanup;
    const tap = eventTap(r.redis, r.keys, new Registry());
    const events = Array.from({ length: ENTRIES_KEPT + 5 }, (_, i) => enter(`p${i}`, i, i % 2 ? 1 : undefined));
    tap('srv-b', 3, events);
    await r.redis.ping();
    const stored = (await r.redis.lrange(r.keys.entries('h1'), 0, -1)).map((s) => JSON.parse(s) as TappedEntry);
    expect(stored.length).toBe(ENTRIES_KEPT);
    const last = ENTRIES_KEPT + 4;
    expect(stored[0]).toEqual({ t: 1000 + last, player: `p${last}`, server: 'srv-b', treasure: 'oak', region: 'r1', at: [last, 64, -last], suspect: false });
    expect(stored[1]!.suspect).toBe(true);
  });
});

describe('rate history', () => {
  it('gives per-second rates from counters, and null for a counter the registry lacks', async () => {
    const registry = new Registry();
    const events = new Counter({ name: 'cairn_gateway_events_total', help: 'x', registers: [registry] });
    const h = new RateHistory(registry, 2);
    await h.sample(10_000);
    events.inc(300);
    await h.sample(12_000);
    events.inc(10);
    await h.sample(13_000);
    events.inc(1);
    await h.sample(14_000);
    expect(h.history()).toEqual([
      [13, null, 10, null],
      [14, null, 1, null],
    ]);
  });
});

describe('stream ids', () => {
  it('compare by time, then sequence (not as strings)', () => {
    expect(compareStreamIds('9-5', '10-0')).toBeLessThan(0);
    expect(compareStreamIds('10-10', '10-9')).toBeGreaterThan(0);
    expect(compareStreamIds('10-1', '10-1')).toBe(0);
  });
});
