/**
 * The sample fixture end to end at the worker level, against real kinesalite and real
 * Redis: the trace's events (through the plugin's triggers) as records in many batches
 * and parts, shuffled over the shards; the worker must decide exactly expected.json,
 * whatever the window length, the split, the duplicates and the number of workers.
 */
import { describe, expect } from 'vitest';
import type { Redis } from 'ioredis';
import type { EventRecord } from '../../backend/kinesis/record-format.js';
import type { RedisKeys } from '../../backend/redis/keys.js';
import type { PrizeStreamEntry } from '../../backend/prize-stream.js';
import { readDecidedPrizes } from '../../worker/worker.js';
import { expectedPrizes, fixtureEvents, fixtureRules, prng, shuffle, toRecords, type ExpectedPrize, type SplitOptions } from './support/fixture.js';
import { workerTest as it } from '../support/fixtures.js';
import { finalClosed, readStream, registerServers, waitClosedAt, waitFor } from './support/harness.js';

const HUNT = 'oracle-hunt';

interface Built {
  records: EventRecord[];
  servers: Record<string, number>;
  lastT: number;
  /** `closed` once every window is closed */
  end: number;
}

function build(window: string, split: Omit<SplitOptions, 'seed' | 'finalWm'>, seed: number): Built {
  const fx = fixtureEvents(fixtureRules(window));
  const finalWm = fx.lastT + 10 * 60_000;
  const records: EventRecord[] = [];
  fx.servers.forEach((s, i) => records.push(...toRecords(s, { ...split, seed: seed + i, finalWm })));
  return { records: shuffle(records, prng(seed)), servers: Object.fromEntries(fx.servers.map((s) => [s.server, s.epoch])), lastT: fx.lastT, end: finalClosed(window, finalWm) };
}

const pick = ({ hunt, reason, player, server, item, count }: ExpectedPrize): ExpectedPrize => ({ hunt, reason, player, server, item, count });
const byReason = (a: ExpectedPrize, b: ExpectedPrize) => (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0);

/** Checks the decided prizes and every server's prize stream against expected.json. */
async function checkAgainstExpected(redis: Redis, keys: RedisKeys, servers: string[]): Promise<Map<string, PrizeStreamEntry[]>> {
  const expected = expectedPrizes();
  const decided = await readDecidedPrizes(redis, keys, HUNT);
  expect(decided.map(pick)).toEqual(expected);

  const streams = new Map<string, PrizeStreamEntry[]>();
  const onStreams: ExpectedPrize[] = [];
  for (const server of servers) {
    const entries = await readStream(redis, keys, server);
    streams.set(server, entries);
    for (const e of entries) if (e.kind === 'prize') onStreams.push({ hunt: e.hunt, reason: e.reason, player: e.player, server, item: e.item, count: e.count });
  }
  // Exactly the expected prizes, each once, each on the stream of the server that grants it.
  expect(onStreams.sort(byReason)).toEqual(expected);

  // Each prize is followed on its stream by a window-closed entry covering its find time,
  // and the closed entries of every server tile the hunt's time without gaps.
  const t = new Map(decided.map((p) => [p.reason, p.t]));
  for (const [server, entries] of streams) {
    const closed = entries.filter((e): e is Extract<PrizeStreamEntry, { kind: 'closed' }> => e.kind === 'closed');
    expect(closed.length, `closed entries on ${server}`).toBeGreaterThan(0);
    for (let i = 1; i < closed.length; i++) expect(closed[i]!.start).toBe(closed[i - 1]!.end);
    entries.forEach((e, i) => {
      if (e.kind !== 'prize') return;
      const after = entries.slice(i + 1).find((x) => x.kind === 'closed') as Extract<PrizeStreamEntry, { kind: 'closed' }> | undefined;
      expect(after, `closed entry after ${e.reason} on ${server}`).toBeDefined();
      const ft = t.get(e.reason)!;
      expect(ft >= after!.start && ft < after!.end, `${e.reason} at ${ft} in [${after!.start}, ${after!.end})`).toBe(true);
    });
  }
  return streams;
}

describe('worker on the sample fixture', () => {
  const cases: { name: string; window: string; split: Omit<SplitOptions, 'seed' | 'finalWm'>; shards: number; seed: number }[] = [
    { name: '60s windows, batches of 20-80 in up to 3 parts, 3 shards', window: '60s', split: { batchMin: 20, batchMax: 80, maxParts: 3 }, shards: 3, seed: 11 },
    { name: '10s windows, batches of 1-6 in up to 4 parts, 2 shards', window: '10s', split: { batchMin: 1, batchMax: 6, maxParts: 4 }, shards: 2, seed: 23 },
    { name: '5m windows (one window), batches of 200-400, 4 shards', window: '5m', split: { batchMin: 200, batchMax: 400, maxParts: 2 }, shards: 4, seed: 37 },
  ];

  for (const c of cases) {
    it(`gives expected.json: ${c.name}`, async ({ workerEnv }) => {
      const env = await workerEnv(`fx${c.seed}`, c.shards);
      const b = build(c.window, c.split, c.seed);
      await registerServers(env.redis, env.keys, b.servers);
      const w = await env.start();
      await env.put(b.records, c.seed);
      await waitClosedAt(env.redis, env.keys, HUNT, b.end);
      await checkAgainstExpected(env.redis, env.keys, Object.keys(b.servers));
      const s = w.stats();
      expect(s.records).toBe(b.records.length);
      expect(s.duplicates).toBe(0);
      expect(s.lateEvents).toBe(0);
      expect(s.badRecords).toBe(0);
      expect(s.prizesCommitted).toBe(expectedPrizes().length);
      expect(s.shardsHeld).toBe(c.shards);
    });
  }

  it('duplicate records (every record put twice, some long after) change nothing', async ({ workerEnv }) => {
    const env = await workerEnv('fxdup', 2);
    const b = build('30s', { batchMin: 10, batchMax: 40, maxParts: 3 }, 5);
    await registerServers(env.redis, env.keys, b.servers);
    const w = await env.start();
    await env.put([...b.records, ...shuffle([...b.records], prng(6))], 5);
    await waitClosedAt(env.redis, env.keys, HUNT, b.end);
    await waitFor('all records read', async () => w.stats().records === 2 * b.records.length);
    const before = await checkAgainstExpected(env.redis, env.keys, Object.keys(b.servers));
    // And again, after every window closed: no prize twice, nothing counted late.
    await env.put(b.records, 7);
    await waitFor('the third copy read', async () => w.stats().records === 3 * b.records.length);
    const after = await checkAgainstExpected(env.redis, env.keys, Object.keys(b.servers));
    expect(after).toEqual(before);
    expect(w.stats().duplicates).toBe(2 * b.records.length);
    expect(w.stats().lateEvents).toBe(0);
  });

  it('two workers at once: same prizes, none twice on any stream, shards split between them', async ({ workerEnv }) => {
    const env = await workerEnv('fx2w', 4);
    const b = build('20s', { batchMin: 5, batchMax: 30, maxParts: 3 }, 41);
    await registerServers(env.redis, env.keys, b.servers);
    const w1 = await env.start({ workerId: 'w1', leaseMs: 900 });
    const w2 = await env.start({ workerId: 'w2', leaseMs: 900 });
    await waitFor('shards balanced 2/2', async () => w1.shards().length === 2 && w2.shards().length === 2, 20_000);
    expect(new Set([...w1.shards(), ...w2.shards()]).size).toBe(4);
    await env.put(b.records, 41);
    await waitClosedAt(env.redis, env.keys, HUNT, b.end);
    await checkAgainstExpected(env.redis, env.keys, Object.keys(b.servers));
    const s1 = w1.stats();
    const s2 = w2.stats();
    expect(s1.records + s2.records).toBeGreaterThanOrEqual(b.records.length);
    expect(s1.records).toBeGreaterThan(0);
    expect(s2.records).toBeGreaterThan(0);
    expect(s1.prizesCommitted + s2.prizesCommitted).toBe(expectedPrizes().length);
  });

  it('re-reading the whole stream from TRIM_HORIZON with fresh checkpoints adds no prize and no entry', async ({ workerEnv }) => {
    const env = await workerEnv('fxreread', 2);
    const b = build('60s', { batchMin: 30, batchMax: 90, maxParts: 2 }, 3);
    await registerServers(env.redis, env.keys, b.servers);
    const w = await env.start();
    await env.put(b.records, 3);
    await waitClosedAt(env.redis, env.keys, HUNT, b.end);
    const before = await checkAgainstExpected(env.redis, env.keys, Object.keys(b.servers));
    await w.stop();
    const ckpts = await env.redis.keys(`${env.keys.prefix}:ckpt:*`);
    expect(ckpts.length).toBe(2);
    await env.redis.del(...ckpts);
    const w2 = await env.start();
    await waitFor('whole stream re-read', async () => w2.stats().records === b.records.length);
    expect(w2.stats().duplicates).toBe(b.records.length);
    expect(w2.stats().prizesCommitted).toBe(0);
    const after = await checkAgainstExpected(env.redis, env.keys, Object.keys(b.servers));
    expect(after).toEqual(before);
  });
});
