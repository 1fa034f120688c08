/**
 * Gateway and worker on a real Redis Cluster (3 masters, 3 replicas, started for this
 * file and shared by its tests): the fixture replay gives exactly expected.json; a worker
 * killed between a window's commit and its fan-out, or midway through the merge of a
 * window's finds into the player buckets, loses and repeats no prize; a
 * `CLUSTER FAILOVER` of the master holding the hunt's slot during a replay changes no
 * prize and grants none twice.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { loadRulesFile } from '../../plugin/rules-file.js';
import { replay } from '../../cli/replay.js';
import { startWorker } from '../../worker/worker.js';
import type { RedisKeys } from '../../backend/redis/keys.js';
import { parsePrizeStreamEntry } from '../../backend/prize-stream.js';
import { prizeKeys } from '../support/trace-builder.js';
import { testStack } from '../support/stack.js';
import { startTestCluster, type TestCluster } from '../support/redis-cluster.js';
import { killWorkerChildren, spawnWorker } from '../worker/support/worker-child.js';

const DIR = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;
const RULES = loadRulesFile(`${DIR}rules.json`);
const TRACE = `${DIR}trace.ndjson`;
const EXPECTED = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8'));

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await killWorkerChildren();
  await cleanup?.();
  cleanup = undefined;
});

/** Every prize entry on the servers' streams, as `reason=player@server`. */
async function streamed(redis: Redis, keys: RedisKeys, servers: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const s of servers) {
    for (const [id, fields] of (await redis.xrange(keys.prizeStream(s), '-', '+')) as [string, string[]][]) {
      const e = parsePrizeStreamEntry(id, fields);
      if (e?.kind === 'prize') out.push(`${e.reason}=${e.player}@${s}`);
    }
  }
  return out.sort();
}

const servers = (): string[] => [...new Set((EXPECTED as { server: string }[]).map((p) => p.server))];

describe('on a Redis Cluster', () => {
  it('the fixture replay gives exactly the expected prizes, each on its stream once', async () => {
    const stack = await testStack({ workers: 1, redisCluster: cluster.seeds });
    cleanup = stack.cleanup;
    const { prizes } = await replay({ hunts: [RULES], traceFile: TRACE, gatewayUrl: stack.gateway!.url, token: 'cairn-dev-token', graceMs: 0 });
    expect(prizeKeys(prizes)).toEqual(EXPECTED);
    const s = await streamed(stack.redis, stack.keys, servers());
    expect(s.length).toBe(EXPECTED.length);
    expect(new Set(s).size).toBe(s.length);
  });

  const KILLS = [
    { when: 'between a window commit and its fan-out', env: 'CAIRN_TEST_EXIT_AFTER_COMMIT', fanOutLeft: true },
    { when: "midway through the merge of a window's finds into the player buckets", env: 'CAIRN_TEST_EXIT_MID_MERGE', fanOutLeft: false },
  ] as const;
  for (const k of KILLS) {
    it(`a worker killed ${k.when}: another finishes the steps; no prize lost or repeated`, async () => {
      const stack = await testStack({ workers: 0, redisCluster: cluster.seeds });
      cleanup = stack.cleanup;
      const done = replay({ hunts: [RULES], traceFile: TRACE, gatewayUrl: stack.gateway!.url, token: 'cairn-dev-token', graceMs: 0 });
      const doomed = await spawnWorker(stack, stack.kinesisEndpoint!, 'doomed', { leaseMs: 2000, env: { CAIRN_TEST_REDIS_CLUSTER: cluster.seeds, [k.env]: '1' } });
      const [, signal] = (await new Promise((resolve) => doomed.proc.once('exit', (...a) => resolve(a)))) as [number | null, string | null];
      expect(signal).toBe('SIGKILL');
      const line = doomed.lines.find((l) => l.startsWith('exiting '));
      expect(line).toBeDefined();
      // Its prizes are decided; its window's finds wait in the hunt's merge list (and, killed
      // before the fan-out, its prizes in the fan-out set, on no stream yet).
      expect(await stack.redis.hlen(stack.keys.prizes(RULES.id))).toBeGreaterThan(0);
      expect(await stack.redis.exists(stack.keys.merge(RULES.id))).toBe(1);
      expect((await stack.redis.zcard(stack.keys.fanOut(RULES.id))) > 0).toBe(k.fanOutLeft);
      const w = await startWorker({ redis: stack.redis, keys: stack.keys, kinesis: stack.kinesis, stream: stack.stream, graceMs: 0, silentServerMs: 0, pollMs: 20, leaseMs: 2000 });
      try {
        const { prizes } = await done;
        expect(prizeKeys(prizes)).toEqual(EXPECTED);
        const s = await streamed(stack.redis, stack.keys, servers());
        expect(s.length).toBe(EXPECTED.length);
        expect(new Set(s).size).toBe(s.length);
      } finally {
        await w.stop();
      }
    });
  }

  it("a CLUSTER FAILOVER of the master holding the hunt's slot during a replay: the same prizes, none twice", async () => {
    const stack = await testStack({ workers: 1, redisCluster: cluster.seeds });
    cleanup = stack.cleanup;
    const master = await cluster.masterOf(stack.keys.closed(RULES.id));
    let promoted: Promise<number> | undefined;
    let polling: NodeJS.Timeout | undefined;
    const { prizes } = await replay({
      hunts: [RULES], traceFile: TRACE, gatewayUrl: stack.gateway!.url, token: 'cairn-dev-token', graceMs: 0, flushIntervalMs: 100,
      // Mid-replay: once the hunt has closed its first window, its master hands over.
      onHost: () => {
        if (polling) return;
        polling = setInterval(() => {
          void stack.redis.get(stack.keys.closed(RULES.id)).then((v) => {
            if (v === null || promoted) return;
            clearInterval(polling);
            promoted = cluster.failover(master);
          }, () => {});
        }, 50);
      },
    });
    clearInterval(polling);
    expect(promoted).toBeDefined();
    const now = await promoted!;
    expect(await cluster.masterOf(stack.keys.closed(RULES.id))).toBe(now);
    expect(prizeKeys(prizes)).toEqual(EXPECTED);
    const s = await streamed(stack.redis, stack.keys, servers());
    expect(s.length).toBe(EXPECTED.length);
    expect(new Set(s).size).toBe(s.length);
  });
});
