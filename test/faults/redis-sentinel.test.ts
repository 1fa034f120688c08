/**
 * Redis failover through Sentinel, with real processes: a primary, a replica and three
 * Sentinels (test/support/redis-sentinel.ts); gateway and worker configured with
 * CAIRN_REDIS_SENTINELS / CAIRN_REDIS_MASTER_NAME exactly as `cairn gateway` and
 * `cairn worker` are (cli/stack.ts). The sample fixture replays in 10 s windows while the
 * primary is killed with SIGKILL:
 *  - with replication caught up: the Sentinels promote the replica, Cairn follows, and the
 *    game gets exactly the expected prizes, none twice;
 *  - with replication held back for three windows before the kill: the promoted replica
 *    lacks window commits whose prizes the game already gave; the worker decides them
 *    again from Kinesis and the plugins' ledgers drop what they already granted.
 * Counted in game: each replay host's record of what it gave.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRulesFile } from '../../plugin/rules-file.js';
import { loadEnvConfig } from '../../backend/config.js';
import { replay, type ReplayResult } from '../../cli/replay.js';
import { startStack, type Stack } from '../../cli/stack.js';
import type { ReplayHost } from '../../plugin/hosts/replay-host.js';
import { readDecidedPrizes } from '../../worker/window-closer.js';
import { prizeKeys } from '../support/trace-builder.js';
import { MASTER_NAME, startSentinelSetup, type SentinelSetup } from '../support/redis-sentinel.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { givenInGame } from './support/grants.js';

const DIR = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;
const RULES = loadRulesFile(`${DIR}rules.json`);
const TRACE = `${DIR}trace.ndjson`;
const EXPECTED = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8'));

let setup: SentinelSetup | undefined;
let stack: Stack | undefined;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  await proxy?.close();
  proxy = undefined;
  await setup?.stop();
  setup = undefined;
});

async function sentinelStack(s: SentinelSetup): Promise<Stack> {
  const config = loadEnvConfig({ CAIRN_REDIS_SENTINELS: s.sentinelList, CAIRN_REDIS_MASTER_NAME: MASTER_NAME, CAIRN_REDIS_PREFIX: 'cairn-test', CAIRN_KINESIS_SHARDS: '2' });
  return startStack({ config, embedded: true, gateway: true, workers: 1, isolate: true, port: 0, pollMs: 20 });
}

/** Replays the fixture in 10 s windows (15 window closes); `onWindows` sees each count. */
async function replayFixture(st: Stack, hosts: ReplayHost[], onWindows: (windows: number) => void): Promise<ReplayResult> {
  return replay({
    hunts: [{ ...RULES, window: '10s' }],
    traceFile: TRACE,
    gatewayUrl: st.gateway!.url,
    token: loadEnvConfig({}).token,
    graceMs: 0,
    windowTimeoutMs: 60_000,
    onHost: (h) => hosts.push(h),
    onProgress: (p) => onWindows(p.windows),
  });
}

function expectExactlyOnce(result: ReplayResult, hosts: ReplayHost[]): void {
  expect(prizeKeys(result.prizes)).toEqual(EXPECTED);
  const g = givenInGame(hosts, result);
  expect(g.twice).toEqual([]);
  expect(g.missing).toEqual([]);
  expect(g.extra).toEqual([]);
  expect(g.given + result.stats.prizesPending).toBe(EXPECTED.length);
}

describe('Redis failover through Sentinel during a replay', () => {
  it('primary killed with SIGKILL: the replica is promoted, Cairn follows, exactly the expected prizes in game, none twice', async () => {
    const s = (setup = await startSentinelSetup());
    const st = (stack = await sentinelStack(s));
    const hosts: ReplayHost[] = [];
    let failover: Promise<number> | undefined;
    const result = await replayFixture(st, hosts, (windows) => {
      if (windows !== 5 || failover) return;
      failover = (async () => {
        const t = Date.now();
        await s.killPrimary();
        await s.waitPrimary(s.replicaPort);
        return Date.now() - t;
      })();
    });
    const promotedMs = await failover!;
    process.stderr.write(`sentinel failover: replica named primary ${promotedMs} ms after the SIGKILL\n`);
    expect(promotedMs).toBeLessThan(30_000);
    expect(await s.primaryNow()).toBe(s.replicaPort);
    // Cairn's connection is on the promoted replica now.
    expect(Number((await st.redis.config('GET', 'port'))[1])).toBe(s.replicaPort);
    expectExactlyOnce(result, hosts);
  }, 180_000);

  it('the promoted replica lacks acknowledged window commits: the worker decides them again, the ledgers drop what the game already has', async () => {
    const s = (setup = await startSentinelSetup({
      replicateVia: async (port) => (proxy = await startFaultProxy({ host: '127.0.0.1', port })).port,
      failoverTimeoutMs: 300_000,
    }));
    const st = (stack = await sentinelStack(s));
    const replica = new Redis({ port: s.replicaPort, lazyConnect: true });
    await replica.connect();
    const hosts: ReplayHost[] = [];
    let failover: Promise<{ decidedOnReplica: number; givenAtKill: number; markerOnReplica: string | null }> | undefined;
    let result: ReplayResult;
    try {
      result = await replayFixture(st, hosts, (windows) => {
        // Replication held from the 4th window close: the next three commits reach only the primary.
        if (windows === 4) proxy!.blackHole();
        if (windows !== 7 || failover) return;
        failover = (async () => {
          await st.redis.set(`${st.keys.prefix}:marker`, 'acknowledged by the primary');
          const decidedOnReplica = (await readDecidedPrizes(replica, st.keys, RULES.id)).length;
          const givenAtKill = hosts.reduce((n, h) => n + h.given.length, 0);
          await s.killPrimary();
          await s.waitPrimary(s.replicaPort);
          return { decidedOnReplica, givenAtKill, markerOnReplica: await replica.get(`${st.keys.prefix}:marker`) };
        })();
      });
    } finally {
      replica.disconnect();
    }
    const f = await failover!;
    process.stderr.write(`lagging replica promoted: it had ${f.decidedOnReplica} decided prizes, the game had been given ${f.givenAtKill}\n`);
    // The replica really was behind: an acknowledged write is gone, and the game had been
    // given prizes that the promoted node had no record of deciding.
    expect(f.markerOnReplica).toBeNull();
    expect(f.givenAtKill).toBeGreaterThan(f.decidedOnReplica);
    expectExactlyOnce(result, hosts);
    // Everything decided again: the record on the new primary is complete.
    expect(prizeKeys(await readDecidedPrizes(st.redis, st.keys, RULES.id))).toEqual(EXPECTED);
  }, 180_000);
});
