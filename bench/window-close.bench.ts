/**
 * Window close: one window of a hunt with 23 regions (one treasure each, one game
 * server each) and 10 k players per region, every player finding the treasure of their
 * region: 230 k finds in one window. Measured:
 *
 *   closeMs      frontier read -> pending read, fold, commit (lua/commit-window.lua) and
 *                fan-out to the servers' prize streams done, for that window (the closer
 *                of worker/window-closer.ts, on real Redis, in a process of its own:
 *                bench/window-close-worker.ts), with the time of each step
 *   mergeMs      after the close: the window's finds merged into the player buckets
 *                (worker/window-merge.ts), how long the merge itself takes. Not part of
 *                the close (its prizes are decided and on their way); it starts a moment
 *                after it (MERGE_DELAY_MS, so the prizes' delivery goes first; sooner when
 *                the next window is due), and the next window's commit waits for it
 *   nextCloseMs  the next window (2.3 k finds) of the same hunt, now 230 k players deep,
 *                closed after the merge of the first: the steady-state cost, which must
 *                not grow with the hunt's history (its merge: nextMergeMs)
 *   arriveP50Ms / arriveP99Ms
 *                window close -> prize message at the plugin's link: from the prize's
 *                stream entry (its id is the Redis time of the commit) through the real
 *                gateway delivery over WebSocket
 *   grantP50Ms / grantP99Ms
 *                window close -> prize granted in game: the same, to the plugin's 'prize'
 *                event (granted through the Host and fsync'd in its ledger), 23 real plugins
 *
 * Each is measured twice in one run: on one Redis (closeMs, grantP99Ms, ...) and on a
 * Redis Cluster of 3 masters and 3 replicas started for the run (closeMsCluster,
 * grantP99MsCluster, ...), where the commit runs on the hunt's master and the fan-out on
 * the servers' masters.
 *
 * Baselines: the seed's 9 s for a 23-region window, and the goals (close <= 1 s,
 * grant p99 <= 100 ms). Ingest is done with the real ingest script but is not timed
 * as part of the close (it happens as events arrive, before the window is due). The
 * machine's load average is printed with the figures: on a shared machine they move a lot.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnPlugin } from '../plugin/cairn-plugin.js';
import type { Host } from '../plugin/host.js';
import type { Redis } from 'ioredis';
import { connectRedis, connectRedisCluster, DEFAULT_REDIS_URL } from '../backend/redis/connect.js';
import { resolveRedis } from '../backend/redis/embedded-server.js';
import { RedisKeys } from '../backend/redis/keys.js';
import { makeKinesisClient } from '../backend/kinesis/client.js';
import { startGateway } from '../gateway/server.js';
import { fmt, percentile, type BenchResult } from './run.js';
import { startTestCluster } from '../test/support/redis-cluster.js';
import { benchRules, CLUSTER_URL, NEXT_PLAYERS_PER_REGION, pad, PLAYERS_PER_REGION, REGIONS } from './window-close-worker.js';

const SEED_CLOSE_MS = 9000;
const GOAL_CLOSE_MS = 1000;
const GOAL_GRANT_P99_MS = 100;

interface PhaseResult {
  ingestMs: number;
  events: number;
  closeMs: number;
  mergeMs: number;
  mergedAfterMs: number;
  steps: Record<string, number>;
  prizes: number;
  windows: number;
}

/** Runs one phase of bench/window-close-worker.ts in a process of its own. */
async function workerPhase(phase: 'big' | 'next', url: string, prefix: string, epochs: Record<string, string>): Promise<PhaseResult> {
  const file = new URL('./window-close-worker.ts', import.meta.url).pathname;
  // `node --cpu-prof --cpu-prof-dir=DIR bin/bench.js window-close` profiles the worker phases too, each in a file of its own.
  const prof = process.execArgv.filter((a) => a.startsWith('--cpu-prof'));
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', file, phase, url, prefix, JSON.stringify(epochs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`window-close worker (${phase}) exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as PhaseResult;
}

function benchHost(serverId: string): Host {
  return { serverId, now: () => Date.now(), isOnline: () => true, hasPermission: () => false, giveItem: () => true, tell: () => {} };
}

/** Where one measurement runs: one Redis, or a Redis Cluster of 3 masters and 3 replicas. */
interface Target {
  label: string;
  redis: Redis;
  /** the <redis url> argument of bench/window-close-worker.ts */
  workerUrl: string;
  /** removes the run's keys (single Redis) and stops what was started */
  stop(prefix: string): Promise<void>;
}

async function singleRedis(): Promise<Target> {
  const r = await resolveRedis(process.env.CAIRN_REDIS_URL ?? DEFAULT_REDIS_URL, true);
  const redis = await connectRedis(r.url);
  return {
    label: 'one Redis', redis, workerUrl: r.url,
    async stop(prefix) {
      let cursor = '0';
      do {
        const [nextCursor, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = nextCursor;
        if (found.length) await redis.del(...found);
      } while (cursor !== '0');
      redis.disconnect();
      await r.stop();
    },
  };
}

async function redisCluster(): Promise<Target> {
  const cluster = await startTestCluster();
  const redis = await connectRedisCluster(cluster.seeds);
  return {
    label: 'Redis Cluster (3 masters, 3 replicas)', redis, workerUrl: `${CLUSTER_URL}${cluster.seeds}`,
    async stop() {
      redis.disconnect();
      await cluster.stop();
    },
  };
}

export async function run(): Promise<BenchResult> {
  const single = await measure(await singleRedis());
  const cluster = await measure(await redisCluster());
  return {
    ...single,
    closeMsCluster: cluster.closeMs,
    grantP50MsCluster: cluster.grantP50Ms,
    grantP99MsCluster: cluster.grantP99Ms,
    nextCloseMsCluster: cluster.nextCloseMs,
    mergeMsCluster: cluster.mergeMs,
    nextMergeMsCluster: cluster.nextMergeMs,
  };
}

async function measure(target: Target): Promise<BenchResult & { closeMs: number; grantP50Ms: number; grantP99Ms: number; nextCloseMs: number; mergeMs: number; nextMergeMs: number }> {
  const dirs: string[] = [];
  const { redis } = target;
  console.log(`--- on ${target.label}`);
  const keys = new RedisKeys(`cairn-bench:window-close:${randomBytes(4).toString('hex')}`);
  const kinesis = makeKinesisClient('http://127.0.0.1:9');
  const gw = await startGateway({
    port: 0, host: '127.0.0.1', token: 'bench', redis, keys, kinesis, stream: 'bench', deliveryBlockMs: 1000,
    sink: { putRecords: async (input) => ({ FailedRecordCount: 0, Records: input.Records.map((_, i) => ({ SequenceNumber: String(i), ShardId: 'shardId-000000000000' })) }) },
  });
  const plugins: CairnPlugin[] = [];
  const granted: number[] = [];
  const delivered: number[] = [];
  const arrived: number[] = [];
  let grants = 0;
  let onGrant: (() => void) | undefined;
  try {
    const hunt = benchRules();
    for (let i = 0; i < REGIONS; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-plugin-'));
      dirs.push(dir);
      const p = await CairnPlugin.start({ host: benchHost(`srv-${pad(i)}`), hunts: [hunt], dataDir: dir, gatewayUrl: gw.url, token: 'bench', heartbeatMs: 60_000 });
      // Arrival at the plugin's link (before its ledger append and fsync): the plugin keeps
      // its link private, so this reaches in; the figure is skipped if that changes.
      const link = (p as unknown as { p?: { link?: { on?: (ev: string, fn: (x: { id: string }) => void) => void } } }).p?.link;
      link?.on?.('prize', (x) => arrived.push(Date.now() - Number(x.id.split('-')[0])));
      p.on('prize', (x: { id: string }) => {
        granted.push(Date.now() - Number(x.id.split('-')[0]));
        grants++;
        onGrant?.();
      });
      plugins.push(p);
    }
    const epochs = await redis.hgetall(keys.servers());
    const expectedPrizes = REGIONS * 100;
    const allGranted = (n: number) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${grants} of ${n} prizes granted after 60 s`)), 60_000);
      const check = () => {
        if (grants >= n) {
          clearTimeout(timer);
          onGrant = undefined;
          resolve();
        }
      };
      onGrant = check;
      check();
    });

    const big = await workerPhase('big', target.workerUrl, keys.prefix, epochs);
    const events = big.events;
    const closeMs = big.closeMs;
    console.log(`ingest: ${fmt(events)} finds in ${fmt(big.ingestMs)} ms (${fmt(events / (big.ingestMs / 1000))} events/s; not part of the close)`);
    console.log(`  close steps (ms): ${JSON.stringify(big.steps)}; then the merge of its finds into the player buckets: ${fmt(big.mergeMs)} ms, done ${fmt(big.mergedAfterMs)} ms after the close`);
    if (big.prizes !== expectedPrizes || big.windows !== 1) throw new Error(`expected ${expectedPrizes} prizes in 1 window, got ${big.prizes} in ${big.windows}`);
    await allGranted(expectedPrizes);
    delivered.push(...granted.splice(0));
    const next = await workerPhase('next', target.workerUrl, keys.prefix, epochs);
    const nextCloseMs = next.closeMs;
    if (next.windows !== 1 || next.events !== REGIONS * NEXT_PLAYERS_PER_REGION) throw new Error(`next window: ${next.events} events in ${next.windows} windows`);

    const sorted = [...delivered].sort((a, b) => a - b);
    const arrivedSorted = arrived.slice(0, expectedPrizes).sort((a, b) => a - b);
    const grantP50Ms = percentile(sorted, 50);
    const grantP99Ms = percentile(sorted, 99);
    const grantMaxMs = sorted[sorted.length - 1]!;
    console.log(`machine: ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    console.log(`window close, ${REGIONS} regions x ${fmt(PLAYERS_PER_REGION)} players (${fmt(events)} finds, ${fmt(expectedPrizes)} prizes): ${fmt(closeMs)} ms vs the seed's ${fmt(SEED_CLOSE_MS)} ms (${fmt(SEED_CLOSE_MS / closeMs, 1)}x faster); goal <= ${fmt(GOAL_CLOSE_MS)} ms: ${closeMs <= GOAL_CLOSE_MS ? 'met' : 'MISSED'}`);
    console.log(`next window (${fmt(REGIONS * 100)} finds, ${fmt(events)} players of history, after the first window's merge): ${fmt(nextCloseMs)} ms, then its merge ${fmt(next.mergeMs)} ms`);
    if (arrivedSorted.length) console.log(`close -> prize message at the plugin (before its ledger fsync): p50 ${fmt(percentile(arrivedSorted, 50))} ms, p99 ${fmt(percentile(arrivedSorted, 99))} ms`);
    console.log(`close -> granted in game (${fmt(sorted.length)} prizes over ${REGIONS} plugins): p50 ${fmt(grantP50Ms)} ms, p99 ${fmt(grantP99Ms)} ms, max ${fmt(grantMaxMs)} ms; goal p99 <= ${GOAL_GRANT_P99_MS} ms: ${grantP99Ms <= GOAL_GRANT_P99_MS ? 'met' : 'MISSED'}`);
    return {
      closeMs: Math.round(closeMs),
      grantP50Ms,
      grantP99Ms,
      grantMaxMs,
      nextCloseMs: Math.round(nextCloseMs),
      mergeMs: Math.round(big.mergeMs),
      nextMergeMs: Math.round(next.mergeMs),
      ...(arrivedSorted.length ? { arriveP50Ms: percentile(arrivedSorted, 50), arriveP99Ms: percentile(arrivedSorted, 99) } : {}),
      finds: events,
      prizes: expectedPrizes,
      ingestEventsPerSec: Math.round(events / (big.ingestMs / 1000)),
    };
  } finally {
    await Promise.all(plugins.map((p) => p.stop(1000).catch(() => {})));
    await gw.close();
    kinesis.destroy();
    await target.stop(keys.prefix);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
