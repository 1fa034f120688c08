/**
 * Shard leases, fencing tokens and checkpoints, with real kinesalite and Redis; the
 * crash cases run a worker in a process of its own and SIGKILL or SIGSTOP it.
 */
import { once } from 'node:events';
import { SplitShardCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { describe, expect } from 'vitest';
import { workerScripts } from '../../worker/scripts.js';
import { spawnWorker } from './support/worker-child.js';
import { expectedPrizes, fixtureEvents, fixtureRules, prng, shuffle, toRecords } from './support/fixture.js';
import { workerTest as it } from '../support/fixtures.js';
import { finalClosed, readStream, registerServers, waitClosedAt, waitFor, type Env } from './support/harness.js';
import { EventMaker, rec, SMALL, T0 } from './support/small-hunt.js';
import { readDecidedPrizes, type Worker } from '../../worker/worker.js';
import type { EventRecord } from '../../backend/kinesis/record-format.js';


const scripts = workerScripts();
/** Waits until every one of `workers` finished `n` more lease ticks: to show that nothing moves, by count, not by time. */
async function moreTicks(workers: Worker[], n: number): Promise<void> {
  const start = workers.map((w) => w.stats().leaseTicks);
  await waitFor(`${n} more lease ticks of each worker`, async () => workers.every((w, i) => w.stats().leaseTicks >= start[i]! + n), 20_000);
}
const shardIds = (n: number) => Array.from({ length: n }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);

function fixtureRecords(window: string, seed: number): { records: EventRecord[]; servers: Record<string, number>; end: number } {
  const fx = fixtureEvents(fixtureRules(window));
  const records: EventRecord[] = [];
  fx.servers.forEach((s, i) => records.push(...toRecords(s, { batchMin: 5, batchMax: 40, maxParts: 3, seed: seed + i, finalWm: fx.lastT + 600_000 })));
  return { records: shuffle(records, prng(seed)), servers: Object.fromEntries(fx.servers.map((s) => [s.server, s.epoch])), end: finalClosed(window, fx.lastT + 600_000) };
}

/** expected.json exactly, and no prize twice on any stream. */
async function expectFixturePrizes(e: Env, servers: string[]): Promise<void> {
  const decided = await readDecidedPrizes(e.redis, e.keys, 'oracle-hunt');
  expect(decided.map(({ hunt, reason, player, server, item, count }) => ({ hunt, reason, player, server, item, count }))).toEqual(expectedPrizes());
  const reasons: string[] = [];
  for (const s of servers) for (const x of await readStream(e.redis, e.keys, s)) if (x.kind === 'prize') reasons.push(x.reason);
  expect(reasons.length).toBe(expectedPrizes().length);
  expect(new Set(reasons).size).toBe(reasons.length);
}

describe('shard leases', () => {
  it('two workers split four shards; when one stops the other takes them all', async ({ workerEnv }) => {
    const env = await workerEnv('balance', 4);
    const w1 = await env.start({ workerId: 'w1', leaseMs: 600 });
    await waitFor('w1 holds all four', async () => w1.shards().length === 4);
    const w2 = await env.start({ workerId: 'w2', leaseMs: 600 });
    await waitFor('2/2', async () => w1.shards().length === 2 && w2.shards().length === 2, 20_000);
    expect([...w1.shards(), ...w2.shards()].sort()).toEqual(shardIds(4));
    for (const s of w2.shards()) expect(await env.redis.get(env.keys.lease(s))).toBe('w2');
    await w1.stop();
    await waitFor('w2 holds all four', async () => w2.shards().length === 4, 20_000);
    expect(w2.stats().shardsHeld).toBe(4);
  });

  it('a worker that cannot get a free lease takes exactly one from the busiest worker: 2/2/0 becomes 2/1/1', async ({ workerEnv }) => {
    const env = await workerEnv('steal', 4);
    const w1 = await env.start({ workerId: 'w1', leaseMs: 1200 });
    const w2 = await env.start({ workerId: 'w2', leaseMs: 1200 });
    await waitFor('2/2', async () => w1.shards().length === 2 && w2.shards().length === 2, 20_000);
    // ceil(4 / 3) = 2: neither w1 nor w2 is over target, so neither gives a lease back; only taking one over balances.
    const w3 = await env.start({ workerId: 'w3', leaseMs: 1200 });
    await waitFor('w3 holds one', async () => w3.shards().length === 1 && w1.shards().length + w2.shards().length === 3, 20_000);
    // Several more ticks of every worker: nothing else moves.
    await moreTicks([w1, w2, w3], 4);
    expect(w3.shards().length).toBe(1);
    expect(w3.stats().leasesStolen).toBe(1);
    expect(w1.stats().leasesStolen + w2.stats().leasesStolen).toBe(0);
    expect([w1.shards().length, w2.shards().length].sort()).toEqual([1, 2]);
    expect([...w1.shards(), ...w2.shards(), ...w3.shards()].sort()).toEqual(shardIds(4));
    for (const w of [w1, w2, w3]) for (const s of w.shards()) expect(await env.redis.get(env.keys.lease(s))).toBe(w.workerId);
    // The new holder's token fences the old holder's checkpoint out.
    const [stolen] = w3.shards() as [string];
    const token = Number(await env.redis.get(env.keys.leaseToken(stolen)));
    expect(await scripts.checkpoint(env.redis, env.keys, stolen, token - 1, '1', false)).toBe(false);
  });

  it('takes no lease from a worker that holds only one more (5 shards, 3/2: already balanced)', async ({ workerEnv }) => {
    const env = await workerEnv('nosteal', 5);
    // A TTL well above any event-loop stall of a loaded machine: a lease that merely
    // expired would move a shard and look like imbalance.
    const w1 = await env.start({ workerId: 'w1', leaseMs: 3000 });
    await waitFor('w1 holds all five', async () => w1.shards().length === 5);
    const w2 = await env.start({ workerId: 'w2', leaseMs: 3000 });
    await waitFor('3/2', async () => w1.shards().length + w2.shards().length === 5 && Math.abs(w1.shards().length - w2.shards().length) === 1, 20_000);
    await moreTicks([w1, w2], 4);
    expect(Math.abs(w1.shards().length - w2.shards().length)).toBe(1);
    expect(w1.stats().leasesStolen + w2.stats().leasesStolen).toBe(0);
  });

  it('a lease taken over fences the old holder: its checkpoint is refused, it lets go, then retakes the shard with a larger token', async ({ workerEnv }) => {
    const env = await workerEnv('fence', 1);
    const [shard] = shardIds(1) as [string];
    const a = new EventMaker('srv-a');
    await registerServers(env.redis, env.keys, { 'srv-a': 1 });
    const w = await env.start({ workerId: 'holder', leaseMs: 600 });
    await waitFor('lease held', async () => w.shards().length === 1);
    const token1 = Number(await env.redis.get(env.keys.leaseToken(shard)));
    expect(token1).toBeGreaterThan(0);

    // Another worker takes the shard over (as it would once the lease expired during a pause).
    await env.redis.del(env.keys.lease(shard));
    const token2 = await scripts.acquireLease(env.redis, env.keys, shard, 'intruder', 1500);
    expect(token2).toBe(token1 + 1);
    const refused = await scripts.checkpoint(env.redis, env.keys, shard, token1, '49600000000000000000000000000000000000000000000000000000', false);
    expect(refused).toBe(false);
    expect(await env.redis.exists(env.keys.checkpoint(shard))).toBe(0);
    await waitFor('old holder let go', async () => w.shards().length === 0);

    // The intruder's lease expires (it never renews): the worker takes the shard back, fenced anew.
    await waitFor('shard retaken', async () => w.shards().length === 1, 10_000);
    expect(Number(await env.redis.get(env.keys.leaseToken(shard)))).toBe(token2 + 1);
    await env.put([rec('srv-a', 1, T0 + 20_000, [a.rulesEv(T0), a.start(T0), a.enter(T0 + 1, 'p')])]);
    await waitFor('window closed', async () => (await env!.redis.get(env!.keys.closed(SMALL))) === String(T0 + 20_000));
    expect(await env.redis.hget(env.keys.checkpoint(shard), 'token')).toBe(String(token2 + 1));
    expect(w.stats().leaseChanges).toBe(3); // acquired, lost, acquired
  });

  it('a new worker resumes after the checkpoint, not from the start of the shard', async ({ workerEnv }) => {
    const env = await workerEnv('resume', 2);
    const a = new EventMaker('srv-a');
    await registerServers(env.redis, env.keys, { 'srv-a': 1 });
    const w1 = await env.start();
    const first = [rec('srv-a', 1, T0 + 1000, [a.rulesEv(T0), a.start(T0)]), rec('srv-a', 2, T0 + 2000, [a.enter(T0 + 1500, 'x')]), rec('srv-a', 3, T0 + 3000, [])];
    await env.put(first);
    await waitFor('first records read', async () => w1.stats().records === 3);
    await w1.stop();
    const ck = await Promise.all(shardIds(2).map((s) => env!.redis.hget(env!.keys.checkpoint(s), 'seq')));
    expect(ck.filter(Boolean).length).toBeGreaterThan(0);
    await env.put([rec('srv-a', 4, T0 + 30_000, [a.enter(T0 + 15_000, 'y')])]);
    const w2 = await env.start();
    await waitFor('windows closed', async () => (await env!.redis.get(env!.keys.closed(SMALL))) === String(T0 + 30_000));
    expect(w2.stats()).toMatchObject({ records: 1, duplicates: 0 });
    expect((await readDecidedPrizes(env.redis, env.keys, SMALL)).map((p) => p.player)).toEqual(['x', 'y']);
  });

  it('a split shard: the parent is read to its end, then the children; prizes equal expected.json', async ({ kinesis, workerEnv }) => {
    const env = await workerEnv('split', 1);
    const b = fixtureRecords('30s', 77);
    await registerServers(env.redis, env.keys, b.servers);
    const half = Math.floor(b.records.length / 2);
    await env.put(b.records.slice(0, half), 77);
    await kinesis.client.send(new SplitShardCommand({ StreamName: env.stream, ShardToSplit: shardIds(1)[0], NewStartingHashKey: (2n ** 127n).toString() }));
    await waitFor('split done', async () => {
      const res = await kinesis.client.send(new ListShardsCommand({ StreamName: env!.stream }));
      return (res.Shards ?? []).length === 3;
    });
    await env.put(b.records.slice(half), 78);
    const w = await env.start({ leaseMs: 900 });
    // Sample which shards the worker reads: whenever it holds a child, the parent must already be finished.
    const parent = shardIds(1)[0]!;
    let sampling = true;
    let childSeen = 0;
    const violations: string[] = [];
    const sampler = (async () => {
      while (sampling) {
        const held = w.shards();
        if (held.some((s) => s !== parent)) {
          childSeen++;
          if ((await env!.redis.hget(env!.keys.checkpoint(parent), 'end')) !== '1') violations.push(held.join(','));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await waitClosedAt(env.redis, env.keys, 'oracle-hunt', b.end);
    sampling = false;
    await sampler;
    expect(violations).toEqual([]);
    expect(childSeen).toBeGreaterThan(0);
    await expectFixturePrizes(env, Object.keys(b.servers));
    expect(await env.redis.hget(env.keys.checkpoint(shardIds(1)[0]!), 'end')).toBe('1');
    expect(w.stats().records).toBe(b.records.length);
  });
});

describe('worker crashes (separate processes)', () => {
  it('kill -9 of a worker mid-stream: another takes its shards over after the lease TTL; prizes equal expected.json, none twice', async ({ kinesis, workerEnv }) => {
    const env = await workerEnv('kill9', 4);
    const b = fixtureRecords('20s', 91);
    await registerServers(env.redis, env.keys, b.servers);
    const child = await spawnWorker(env, kinesis.endpoint, 'doomed', { leaseMs: 1000 });
    await waitFor('child holds all shards', async () => (await Promise.all(shardIds(4).map((s) => env!.redis.get(env!.keys.lease(s))))).every((o) => o === 'doomed'));
    const third = Math.floor(b.records.length / 3);
    await env.put(b.records.slice(0, third), 91);
    await waitFor('child checkpointed something', async () => (await env!.redis.keys(`${env!.keys.prefix}:ckpt:*`)).length > 0);
    child.proc.kill('SIGKILL');
    await once(child.proc, 'exit');
    await env.put(b.records.slice(third), 92);
    const w = await env.start({ workerId: 'survivor', leaseMs: 1000 });
    await waitFor('survivor holds all four', async () => w.shards().length === 4, 20_000);
    await waitClosedAt(env.redis, env.keys, 'oracle-hunt', b.end);
    await expectFixturePrizes(env, Object.keys(b.servers));
  });

  it('a worker paused (SIGSTOP) past its lease TTL is fenced out when it resumes; prizes equal expected.json, none twice', async ({ kinesis, workerEnv }) => {
    const env = await workerEnv('sigstop', 4);
    const b = fixtureRecords('15s', 93);
    await registerServers(env.redis, env.keys, b.servers);
    const child = await spawnWorker(env, kinesis.endpoint, 'sleeper', { leaseMs: 1000 });
    await waitFor('child holds all shards', async () => (await Promise.all(shardIds(4).map((s) => env!.redis.get(env!.keys.lease(s))))).every((o) => o === 'sleeper'));
    const half = Math.floor(b.records.length / 2);
    await env.put(b.records.slice(0, half), 93);
    await waitFor('child checkpointed something', async () => (await env!.redis.keys(`${env!.keys.prefix}:ckpt:*`)).length > 0);
    child.proc.kill('SIGSTOP');
    const tokensBefore = await Promise.all(shardIds(4).map(async (s) => Number(await env!.redis.get(env!.keys.leaseToken(s)))));
    await env.put(b.records.slice(half), 94);
    // A TTL well above an event-loop stall of a loaded machine: only the sleeper's leases may expire here.
    const w = await env.start({ workerId: 'awake', leaseMs: 5000 });
    await waitFor('awake holds all four', async () => w.shards().length === 4, 20_000);
    await waitClosedAt(env.redis, env.keys, 'oracle-hunt', b.end);
    await expectFixturePrizes(env, Object.keys(b.servers));
    const closedBefore = await readStream(env.redis, env.keys, 'srv-a');

    child.proc.kill('SIGCONT');
    const stats = await child.stats();
    // The sleeper lost every lease; nothing it did after waking reached a stream or a checkpoint.
    expect(stats.shardsHeld).toBe(0);
    await expectFixturePrizes(env, Object.keys(b.servers));
    expect(await readStream(env.redis, env.keys, 'srv-a')).toEqual(closedBefore);
    for (const [i, s] of shardIds(4).entries()) {
      const token = Number(await env.redis.get(env.keys.leaseToken(s)));
      expect(token).toBeGreaterThan(tokensBefore[i]!);
      expect(await env.redis.get(env.keys.lease(s))).toBe('awake');
    }
  });
});
