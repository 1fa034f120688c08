/**
 * Redis failing under the worker:
 *  - kill -9 of a Redis with appendonly on, right as a window commit is sent, three times
 *    in one run: after each restart the worker carries on, and the prizes are exactly
 *    expected.json, none on a stream twice;
 *  - a real connection drop with a write unanswered: ioredis resends it after reconnecting
 *    (shown first with INCRBY, which the resend applies twice), and every write the worker
 *    makes is applied twice without changing anything.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect } from 'vitest';
import type { Redis } from 'ioredis';
import { emptyHuntState, type DecidedPrize } from '../../hunt/hunt-fold.js';
import { WorkerMetrics } from '../../worker/metrics.js';
import { ingestRecord } from '../../worker/record-ingest.js';
import { fanOutWindows } from '../../worker/window-fan-out.js';
import { workerScripts } from '../../worker/scripts.js';
import { readDecidedPrizes, WindowCloser } from '../../worker/window-closer.js';
import { readHuntState } from '../../hunt/hunt-store.js';
import { commitWindow } from '../../worker/window-commit.js';
import type { EventRecord } from '../../backend/kinesis/record-format.js';
import { logger } from '../../common/log.js';
import { TEST_REDIS_URL } from '../support/redis.js';
import { expectedPrizes, fixtureEvents, fixtureRules, prng, shuffle, toRecords } from './support/fixture.js';
import { finalClosed, readStream, registerServers, testEnv, waitClosedAt, type Env } from './support/harness.js';
import { kinesisTest as it } from '../support/fixtures.js';
import { startDropProxy, type DropProxy } from './support/drop-proxy.js';
import { startOwnRedis, type OwnRedis } from './support/redis-process.js';
import { EventMaker, rec, SMALL, T0 } from './support/small-hunt.js';

const HUNT = 'oracle-hunt';
const scripts = workerScripts();

let env: Env | undefined;
let own: OwnRedis | undefined;
let proxy: DropProxy | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
  await proxy?.close();
  proxy = undefined;
  await own?.stop();
  own = undefined;
});

function fixtureRecords(window: string, seed: number): { records: EventRecord[]; servers: Record<string, number>; end: number } {
  const fx = fixtureEvents(fixtureRules(window));
  const finalWm = fx.lastT + 60_000;
  const records = fx.servers.flatMap((s, i) => toRecords(s, { seed: seed + i, batchMin: 5, batchMax: 40, maxParts: 2, finalWm }));
  return { records: shuffle(records, prng(seed)), servers: Object.fromEntries(fx.servers.map((s) => [s.server, s.epoch])), end: finalClosed(window, finalWm) };
}

async function expectFixturePrizes(redis: Redis, e: Env, servers: string[]): Promise<void> {
  const decided = await readDecidedPrizes(redis, e.keys, HUNT);
  expect(decided.map(({ hunt, reason, player, server, item, count }) => ({ hunt, reason, player, server, item, count }))).toEqual(expectedPrizes());
  const reasons: string[] = [];
  for (const s of servers) for (const x of await readStream(redis, e.keys, s)) if (x.kind === 'prize') reasons.push(x.reason);
  expect(reasons.length).toBe(expectedPrizes().length);
  expect(new Set(reasons).size).toBe(reasons.length);
}

describe('Redis killed under the worker', () => {
  it('kill -9 of Redis (appendonly) around window commits: before one runs, after one ran with its reply unsent, and at a random moment; prizes equal expected.json, none twice', async ({ kinesis }) => {
    own = await startOwnRedis();
    const r = own;
    // Through a proxy, so a reply can be held back at the moment Redis is killed.
    proxy = await startDropProxy({ host: '127.0.0.1', port: r.port });
    const p = proxy;
    env = await testEnv(kinesis.client, 'redis-kill9', 2, p.url);
    const e = env;
    const b = fixtureRecords('10s', 61);
    await registerServers(e.redis, e.keys, b.servers);

    const crash = async (after: Promise<void>) => {
      await after;
      await r.kill9();
      await sleep(300);
      await r.restart();
    };
    const kills: Promise<void>[] = [];
    // The 2nd commit reaches a frozen Redis and is never run; the 5th runs (and is in the AOF)
    // but its reply never arrives; the 8th meets a kill 1 ms after it is sent.
    const plan: Record<number, () => void> = {
      2: () => r.freeze(),
      5: () => kills.push(crash(new Promise<void>((resolve) => p.dropReplyTo(scripts.lua.commitWindow.sha, resolve)))),
    };
    const after: Record<number, () => void> = {
      2: () => kills.push(crash(sleep(50))),
      8: () => kills.push(crash(sleep(1))),
    };
    let sent = 0;
    const orig = e.redis.evalsha.bind(e.redis) as (...args: unknown[]) => Promise<unknown>;
    (e.redis as unknown as { evalsha: (...args: unknown[]) => Promise<unknown> }).evalsha = (...args: unknown[]) => {
      const n = args[0] === scripts.lua.commitWindow.sha ? ++sent : 0;
      plan[n]?.();
      const res = orig(...args);
      after[n]?.();
      return res;
    };

    const statuses: string[] = [];
    await e.start({ leaseMs: 5000, hooks: { afterCommit: (w) => statuses.push(w.status) } });
    for (const s of Object.values(scripts.lua)) await e.redis.script('LOAD', s.source);
    await e.put(b.records, 61);
    await waitClosedAt(e.redis, e.keys, HUNT, b.end);
    await Promise.all(kills);
    expect(kills.length).toBe(3);
    // The commit whose reply was lost came back from the AOF and its resend knew it.
    expect(statuses).toContain('resent');
    expect(statuses).not.toContain('stale');
    await expectFixturePrizes(e.redis, e, Object.keys(b.servers));
  });
});

describe('a write resent after a real connection drop', () => {
  it('is applied twice by Redis (INCRBY shows it), and applying any worker write twice changes nothing', async ({ kinesis }) => {
    const target = new URL(TEST_REDIS_URL);
    proxy = await startDropProxy({ host: target.hostname, port: Number(target.port) });
    const p = proxy;
    env = await testEnv(kinesis.client, 'resend', 1, p.url);
    const { redis, keys } = env;

    // Scripts loaded, so a dropped reply is never a NOSCRIPT that the fallback EVAL would hide.
    for (const s of Object.values(scripts.lua)) await redis.script('LOAD', s.source);

    // The hazard is real: the INCRBY reached Redis, its reply was lost, ioredis sent it again.
    await redis.set(`${keys.prefix}:counter`, '0');
    p.dropNextReply();
    expect(await redis.incrby(`${keys.prefix}:counter`, 5)).toBe(10);
    expect(p.dropped).toBe(1);

    // Ingest: a record applied twice is one record (its events pending once, the watermark moved once).
    const a = new EventMaker('srv-a');
    const b = new EventMaker('srv-b');
    await registerServers(redis, keys, { 'srv-a': 1, 'srv-b': 1 });
    await ingestRecord(redis, keys, scripts, rec('srv-a', 1, T0, [a.rulesEv(T0), a.start(T0)]));
    p.dropReplyTo(scripts.lua.markPart.sha);
    const res = await ingestRecord(redis, keys, scripts, rec('srv-a', 2, T0 + 12_000, [a.enter(T0 + 100, 'x'), a.enter(T0 + 200, 'y'), a.enter(T0 + 11_000, 'z')]));
    expect(p.dropped).toBe(2);
    expect(res.applied).toBe(false); // what the resend saw: the part already there
    expect(await redis.hget(keys.watermark('srv-a', 1), 'next')).toBe('3');
    expect(await redis.zcard(keys.pending(SMALL))).toBe(4); // rules, start, a chunk of two (window 1), one (window 2)
    await ingestRecord(redis, keys, scripts, rec('srv-b', 1, T0 + 12_000, [b.enter(T0 + 150, 'w')]));

    // Window commit, through the closer: the resent commit is recognised as its own; then
    // its merge into the player buckets, resent too (the resend finds the list gone).
    const metrics = new WorkerMetrics();
    const closer = new WindowCloser({ redis, keys, scripts, metrics, log: logger('test'), graceMs: 0, silentServerMs: 0, mergeDelayMs: 0 });
    p.dropReplyTo(scripts.lua.commitWindow.sha, () => p.dropReplyTo(scripts.lua.mergePlayers.sha));
    await closer.run();
    expect(p.dropped).toBe(4);
    expect(await redis.exists(keys.merge(SMALL))).toBe(0);
    expect(Object.keys((await readHuntState(redis, keys, SMALL))!.players).sort()).toEqual(['w', 'x', 'y']);
    expect(metrics.stats).toMatchObject({ windowsClosed: 1, staleCommits: 0, prizesCommitted: 3 });
    expect((await readDecidedPrizes(redis, keys, SMALL)).map((x) => `${x.reason}=${x.player}`)).toEqual(['treasure:rock:1=x', 'treasure:rock:2=w', 'treasure:rock:3=y']);
    const entries = [...(await readStream(redis, keys, 'srv-a')), ...(await readStream(redis, keys, 'srv-b'))];
    expect(entries.filter((x) => x.kind === 'prize').length).toBe(3);
    expect(entries.filter((x) => x.kind === 'closed').length).toBe(2);

    // A commit call on its own, applied twice: 'resent', nothing appended again.
    const prize: DecidedPrize = { hunt: 'other', reason: 'treasure:t:1', player: 'p', server: 'srv-a', item: 'gold', count: 1, t: T0 };
    const args = { hunt: 'other', expected: undefined, start: T0, end: T0 + 10_000, state: emptyHuntState('other'), commitId: 'once', prizes: [prize], finds: '', read: 0, late: [] };
    p.dropReplyTo(scripts.lua.commitWindow.sha);
    expect(await commitWindow(redis, keys, scripts, args)).toEqual({ status: 'resent', newPrizes: 1 });
    p.dropReplyTo(scripts.lua.fanOutWindow.sha);
    await fanOutWindows(redis, keys, scripts, 'other');
    expect((await readStream(redis, keys, 'srv-a')).filter((x) => x.kind === 'prize' && x.hunt === 'other').length).toBe(1);

    // Leases and checkpoints.
    const shard = 'shardId-000000000009';
    p.dropReplyTo(scripts.lua.acquireLease.sha);
    const token = await scripts.acquireLease(redis, keys, shard, 'me', 5000);
    expect(await redis.get(keys.lease(shard))).toBe('me');
    expect(String(token)).toBe(await redis.get(keys.leaseToken(shard))); // the token held is the current one
    p.dropReplyTo(scripts.lua.stealLease.sha);
    const stolen = await scripts.stealLease(redis, keys, shard, 'me', 'thief', 5000);
    expect(stolen).toBe(token + 1); // not 0: the resend sees the lease is already the thief's
    expect(await redis.get(keys.lease(shard))).toBe('thief');
    p.dropReplyTo(scripts.lua.checkpoint.sha);
    expect(await scripts.checkpoint(redis, keys, shard, stolen, '12345', false)).toBe(true);
    expect(await redis.hgetall(keys.checkpoint(shard))).toEqual({ seq: '12345', token: String(stolen) });
    p.dropReplyTo(scripts.lua.renewLease.sha);
    expect(await scripts.renewLease(redis, keys, shard, 'thief', stolen, 5000)).toBe(true);
    p.dropReplyTo(scripts.lua.releaseLease.sha);
    // The resend finds the lease already gone (the first run deleted it), so it answers false.
    expect(await scripts.releaseLease(redis, keys, shard, 'thief', stolen)).toBe(false);
    expect(await redis.exists(keys.lease(shard))).toBe(0);
    expect(p.dropped).toBe(11);
  });
});
