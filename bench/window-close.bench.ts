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
 *                (worker/window-merge.ts). Not part of the close (its prizes are decided
 *                and on their way; the merge runs while they are delivered), but the next
 *                window's commit waits for it
 *   nextCloseMs  the next window (2.3 k finds) of the same hunt, now 230 k players deep,
 *                closed after the merge of the first: the steady-state cost, which must
 *                not grow with the hunt's history (its merge: nextMergeMs)
 *   arriveP50Ms / arriveP99Ms
 *                window close -> prize message at the plugin's link: from the prize's
 *                stream entry (its id is the Redis time of the fan-out that appended it)
 *                through the real gateway delivery over WebSocket
 *   grantP50Ms / grantP99Ms
 *                window close -> prize granted in game: the same, to the plugin's 'prize'
 *                event (granted through the Host and fsync'd in its ledger), 23 real plugins
 *
 * The grants are measured in two windows per target, 23 real plugins in this process
 * beside the real gateway (bench/window-close-plugins.ts):
 *
 *   *FirstWindow  as this benchmark first measured them: the first window after the gateway
 *                 and the plugins started, so V8 runs the whole prize path for the first
 *                 time (interpreted, then compiled while the window is being granted)
 *   grantP99Ms    the goal's figure, as a running deployment sees them: gateway and plugins
 *                 that have granted two windows of another hunt before (a hunt's windows
 *                 close every minute or so, so a window's grants find its code compiled)
 *
 * Either way one event loop, heap and libuv pool carry what a deployment spreads over a
 * gateway and 23 game servers: a prize waits for every other server's decoding, ledger
 * appends, fsyncs (4 threads for 23 ledgers) and garbage collection too. The worker's
 * process stays up until the grants are in (a worker does not exit after a close), and
 * nothing is printed meanwhile.
 *
 * Each is measured on one Redis (closeMs, grantP99Ms, ...) and on a Redis Cluster of 3
 * masters and 3 replicas started for the run (closeMsCluster, grantP99MsCluster, ...),
 * where the commit runs on the hunt's master and the fan-out on the servers' masters.
 *
 * Baselines: the seed's 9 s for a 23-region window, and the goals (close <= 1 s,
 * grant p99 <= 100 ms). Ingest is done with the real ingest script but is not timed
 * as part of the close (it happens as events arrive, before the window is due). The
 * machine's load average is printed with the figures: on a shared machine they move a lot.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { RedisKeys } from '../backend/redis/keys.js';
import { makeKinesisClient } from '../backend/kinesis/client.js';
import { workerScripts } from '../worker/scripts.js';
import { startGateway } from '../gateway/server.js';
import { fmt, percentile, type BenchResult } from './run.js';
import { BenchPlugins } from './window-close-plugins.js';
import { redisCluster, singleRedis, type Target } from './window-close-targets.js';
import { benchRules, NEXT_PLAYERS_PER_REGION, pad, PLAYERS_PER_REGION, REGIONS } from './window-close-worker.js';

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

/** A phase's figures, and the worker process that computed them, still up until released. */
interface Phase extends PhaseResult {
  /** Lets the worker process exit, and waits until it has. */
  release(): Promise<void>;
}

/**
 * Runs one phase of bench/window-close-worker.ts in a process of its own; resolves with its
 * figures as soon as it prints them. The process then waits, idle, until released, so its
 * exit is not on the machine while the prizes it fanned out are delivered.
 */
async function workerPhase(phase: 'big' | 'next', url: string, prefix: string, epochs: Record<string, string>): Promise<Phase> {
  const file = new URL('./window-close-worker.ts', import.meta.url).pathname;
  // `node --cpu-prof --cpu-prof-dir=DIR bin/bench.js window-close` profiles the worker phases too, each in a file of its own.
  const prof = process.execArgv.filter((a) => a.startsWith('--cpu-prof'));
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', file, phase, url, prefix, JSON.stringify(epochs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit') as Promise<[number | null]>;
  let out = '';
  const line = await new Promise<string | undefined>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    void exited.then(() => resolve(undefined));
  });
  const release = async () => {
    child.stdin.end();
    const [code] = await exited;
    if (code !== 0) throw new Error(`window-close worker (${phase}) exited with ${code}`);
  };
  if (line === undefined) {
    await release();
    throw new Error(`window-close worker (${phase}) exited without its figures`);
  }
  return { ...(JSON.parse(line) as PhaseResult), release };
}

/** What one measurement found. */
interface Figures {
  closeMs: number;
  nextCloseMs: number;
  mergeMs: number;
  mergedAfterMs: number;
  nextMergeMs: number;
  grantP50Ms: number;
  grantP99Ms: number;
  grantMaxMs: number;
  arriveP50Ms?: number;
  arriveP99Ms?: number;
  ingestEventsPerSec: number;
  finds: number;
  /** the close's steps, ms (bench/window-close-worker.ts) */
  steps: Record<string, number>;
  ingestMs: number;
}

const met = (ms: number, goal: number) => `goal <= ${fmt(goal)} ms: ${ms <= goal ? 'met' : 'MISSED'} (${fmt(ms / goal, 2)}x the goal)`;

/** Windows of another hunt granted before the steady-state window (see warmUp). */
const WARM_UP_WINDOWS = 2;

export async function run(): Promise<BenchResult> {
  const plugins = new BenchPlugins();
  const single = await onTarget(await singleRedis(), plugins);
  const cluster = await onTarget(await redisCluster(), plugins);
  const goalsMissed = [single.first.closeMs > GOAL_CLOSE_MS, single.steady.grantP99Ms > GOAL_GRANT_P99_MS, cluster.first.closeMs > GOAL_CLOSE_MS, cluster.steady.grantP99Ms > GOAL_GRANT_P99_MS].filter(Boolean).length;
  return {
    closeMs: single.first.closeMs,
    nextCloseMs: single.first.nextCloseMs,
    mergeMs: single.first.mergeMs,
    nextMergeMs: single.first.nextMergeMs,
    grantP50Ms: single.steady.grantP50Ms,
    grantP99Ms: single.steady.grantP99Ms,
    grantMaxMs: single.steady.grantMaxMs,
    arriveP50Ms: single.steady.arriveP50Ms,
    arriveP99Ms: single.steady.arriveP99Ms,
    grantP99MsFirstWindow: single.first.grantP99Ms,
    arriveP99MsFirstWindow: single.first.arriveP99Ms,
    closeMsCluster: cluster.first.closeMs,
    nextCloseMsCluster: cluster.first.nextCloseMs,
    mergeMsCluster: cluster.first.mergeMs,
    nextMergeMsCluster: cluster.first.nextMergeMs,
    grantP50MsCluster: cluster.steady.grantP50Ms,
    grantP99MsCluster: cluster.steady.grantP99Ms,
    arriveP99MsCluster: cluster.steady.arriveP99Ms,
    grantP99MsClusterFirstWindow: cluster.first.grantP99Ms,
    finds: single.first.finds,
    prizes: REGIONS * 100,
    ingestEventsPerSec: single.first.ingestEventsPerSec,
    goalsMissed,
  };
}

/**
 * Two windows on one target: first as the benchmark always measured it (a fresh gateway and
 * 23 fresh plugins; the close figures come from this one), then a gateway and plugins that
 * have granted WARM_UP_WINDOWS windows of another hunt before.
 */
async function onTarget(target: Target, plugins: BenchPlugins): Promise<{ first: Figures; steady: Figures }> {
  try {
    const first = await measure(target, plugins);
    const steady = await measure(target, plugins, WARM_UP_WINDOWS);
    const prizes = REGIONS * 100;
    console.log(`--- on ${target.label}`);
    console.log(`ingest: ${fmt(first.finds)} finds in ${fmt(first.ingestMs)} ms (${fmt(first.ingestEventsPerSec)} events/s; not part of the close)`);
    console.log(`  close steps (ms): ${JSON.stringify(first.steps)}; then the merge of its finds into the player buckets: ${fmt(first.mergeMs)} ms, done ${fmt(first.mergedAfterMs)} ms after the close`);
    console.log(`machine: ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    console.log(`window close, ${REGIONS} regions x ${fmt(PLAYERS_PER_REGION)} players (${fmt(first.finds)} finds, ${fmt(prizes)} prizes): ${fmt(first.closeMs)} ms vs the seed's ${fmt(SEED_CLOSE_MS)} ms (${fmt(SEED_CLOSE_MS / first.closeMs, 1)}x faster); ${met(first.closeMs, GOAL_CLOSE_MS)} (the second window of the run: ${fmt(steady.closeMs)} ms)`);
    console.log(`next window (${fmt(REGIONS * NEXT_PLAYERS_PER_REGION)} finds, ${fmt(first.finds)} players of history, after the first window's merge): ${fmt(first.nextCloseMs)} ms, then its merge ${fmt(first.nextMergeMs)} ms`);
    const lines = (f: Figures) => {
      if (f.arriveP99Ms !== undefined) console.log(`  close -> prize message at the plugin (before its ledger fsync): p50 ${fmt(f.arriveP50Ms!)} ms, p99 ${fmt(f.arriveP99Ms)} ms`);
      return `  close -> granted in game (${fmt(prizes)} prizes over ${REGIONS} plugins): p50 ${fmt(f.grantP50Ms)} ms, p99 ${fmt(f.grantP99Ms)} ms, max ${fmt(f.grantMaxMs)} ms`;
    };
    console.log('the first window after the gateway and the plugins started (as measured before):');
    console.log(lines(first));
    console.log(`after ${WARM_UP_WINDOWS} windows of another hunt (gateway and plugins running, their code compiled):`);
    console.log(`${lines(steady)}; ${met(steady.grantP99Ms, GOAL_GRANT_P99_MS)}`);
    return { first, steady };
  } finally {
    await target.stop();
  }
}

/**
 * Windows of another hunt fanned out (by the worker's own fan-out script) and granted before
 * the measured one, as on a gateway and plugins that have been running for a while: V8
 * optimises a function only once it has run a few times, and the first window after a
 * start runs the whole prize path in the interpreter.
 */
async function warmUp(target: Target, keys: RedisKeys, plugins: BenchPlugins, servers: string[], windows: number): Promise<void> {
  const scripts = workerScripts();
  for (let w = 0; w < windows; w++) {
    const prizes = servers.flatMap((server) =>
      Array.from({ length: 100 }, (_, k) => ({ reason: `treasure:warm:${w * 100 + k + 1}`, server, player: `w${w}-${server}-${k}`, item: 'bread', count: '1' })),
    );
    const win = { hunt: 'warm-up', start: w * 60_000, end: (w + 1) * 60_000, prizes };
    await Promise.all(servers.map((s) => scripts.fanOutWindow(target.redis, keys, s, win)));
    await plugins.grants((w + 1) * prizes.length, 60_000);
  }
  plugins.collect();
}

async function measure(target: Target, plugins: BenchPlugins, warmUpWindows = 0): Promise<Figures> {
  const { redis } = target;
  const keys = new RedisKeys(`cairn-bench:window-close:${randomBytes(4).toString('hex')}`);
  const kinesis = makeKinesisClient('http://127.0.0.1:9');
  const gw = await startGateway({
    port: 0, host: '127.0.0.1', token: 'bench', redis, keys, kinesis, stream: 'bench', deliveryBlockMs: 1000,
    sink: { putRecords: async (input) => ({ FailedRecordCount: 0, Records: input.Records.map((_, i) => ({ SequenceNumber: String(i), ShardId: 'shardId-000000000000' })) }) },
  });
  try {
    const servers = Array.from({ length: REGIONS }, (_, i) => `srv-${pad(i)}`);
    await plugins.start(gw.url, 'bench', servers, benchRules());
    await warmUp(target, keys, plugins, servers, warmUpWindows);
    const epochs = await redis.hgetall(keys.servers());
    const expectedPrizes = REGIONS * 100;

    const big = await workerPhase('big', target.workerUrl, keys.prefix, epochs);
    // Nothing is printed until every prize is granted: formatting numbers (toLocaleString
    // loads ICU data) blocked this process's event loop for ~50 ms in the middle of the grants.
    try {
      if (big.prizes !== expectedPrizes || big.windows !== 1) throw new Error(`expected ${expectedPrizes} prizes in 1 window, got ${big.prizes} in ${big.windows}`);
      await plugins.grants(expectedPrizes, 60_000);
    } finally {
      await big.release();
    }
    const { arrived, granted } = plugins.collect();
    const next = await workerPhase('next', target.workerUrl, keys.prefix, epochs);
    await next.release();
    if (next.windows !== 1 || next.events !== REGIONS * NEXT_PLAYERS_PER_REGION) throw new Error(`next window: ${next.events} events in ${next.windows} windows`);

    const sorted = granted.sort((a, b) => a - b);
    const arrivedSorted = arrived.slice(0, expectedPrizes).sort((a, b) => a - b);
    return {
      closeMs: Math.round(big.closeMs),
      nextCloseMs: Math.round(next.closeMs),
      mergeMs: Math.round(big.mergeMs),
      mergedAfterMs: Math.round(big.mergedAfterMs),
      nextMergeMs: Math.round(next.mergeMs),
      grantP50Ms: percentile(sorted, 50),
      grantP99Ms: percentile(sorted, 99),
      grantMaxMs: sorted[sorted.length - 1]!,
      ...(arrivedSorted.length ? { arriveP50Ms: percentile(arrivedSorted, 50), arriveP99Ms: percentile(arrivedSorted, 99) } : {}),
      ingestEventsPerSec: Math.round(big.events / (big.ingestMs / 1000)),
      finds: big.events,
      steps: big.steps,
      ingestMs: big.ingestMs,
    };
  } finally {
    await plugins.stop();
    await gw.close();
    kinesis.destroy();
    await target.clean(keys.prefix);
  }
}
