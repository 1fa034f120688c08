/**
 * The worker side of the window-close benchmark, in a process of its own as in
 * production (its heap and GC pauses are not the gateway's or the plugins'): ingests one
 * window's records with the real ingest script, then times the closer over it.
 *
 *   node --import tsx bench/window-close-worker.ts <phase> <redis url | cluster:host:port,...> <prefix> <epochs JSON>
 *
 * phase `big`: 23 regions x 10 k players, each finding their region's treasure, in window
 * [T0, T0 + 60 s); phase `next`: 100 more finders per region in the following window.
 * Prints one line of JSON: { ingestMs, events, closeMs (to the end of the fan-out), mergeMs
 * (the merge of the window's finds into the player buckets, after the close), mergedAfterMs
 * (from the end of the fan-out to the end of the merge), steps, prizes, windows }.
 *
 * Then, when stdin is a pipe, it stays up, idle, until stdin closes: a worker does not exit
 * after a close, and the exit of this one (its heap of the 230 k finds given back to the
 * system: ~0.2 s of system CPU, measured with /usr/bin/time) would otherwise run on the
 * machine's two cores while the prizes it fanned out are being delivered and granted.
 */
import { once } from 'node:events';
import { rulesHash, type DiscreteEvent, type HuntRules } from '../protocol/index.js';
import { logger } from '../common/log.js';
import { connectRedis, connectRedisCluster } from '../backend/redis/connect.js';
import { RedisKeys } from '../backend/redis/keys.js';
import { RECORD_FORMAT_VERSION, type EventRecord } from '../backend/kinesis/record-format.js';
import { ingestRecord } from '../worker/record-ingest.js';
import { workerScripts } from '../worker/scripts.js';
import { WorkerMetrics } from '../worker/metrics.js';
import { WindowCloser } from '../worker/window-closer.js';
import { rng } from '../plugin/hosts/sim-host.js';

export const REGIONS = 23;
export const PLAYERS_PER_REGION = 10_000;
export const NEXT_PLAYERS_PER_REGION = 100;
export const WINDOW_MS = 60_000;
/** Aligned to the window. */
export const T0 = 1_800_000_000_000 - (1_800_000_000_000 % WINDOW_MS);
export const HUNT = 'bench-hunt';
const EVENTS_PER_RECORD = 500;

/** The <redis url> argument for a Redis Cluster: this, then its seed nodes. */
export const CLUSTER_URL = 'cluster:';

export const pad = (i: number) => String(i + 1).padStart(2, '0');

export function benchRules(): HuntRules {
  return {
    id: HUNT,
    name: 'Window close benchmark',
    window: `${WINDOW_MS / 1000}s`,
    treasures: Array.from({ length: REGIONS }, (_, r) => ({
      id: `t${pad(r)}`,
      region: `r${pad(r)}`,
      at: [r * 10, 64, 0] as [number, number, number],
      radius: 3,
      prizes: [
        { ranks: '1', item: 'gold_ingot', count: 5 },
        { ranks: '2-10', item: 'silver_coin', count: 2 },
        { ranks: '11-100', item: 'bread', count: 1 },
      ],
    })),
  };
}

/** Small deterministic PRNG (mulberry32). */
const prng = rng;

/** One server's records for one window: `players` finds at random times in [from, from + WINDOW_MS), then a heartbeat past its end. */
function serverRecords(r: HuntRules, region: number, epoch: number, firstSeq: number, from: number, players: number, playerBase: number, withStart: boolean): EventRecord[] {
  const rnd = prng(1000 * firstSeq + region);
  const server = `srv-${pad(region)}`;
  const tr = r.treasures[region]!;
  const events: DiscreteEvent[] = [];
  let n = firstSeq * 1_000_000;
  if (withStart) events.push({ k: 'start', e: epoch, n: n++, t: from, p: 'admin', hunt: HUNT, rules: r, hash: rulesHash(r) });
  for (let i = 0; i < players; i++) {
    const t = from + 1 + Math.floor(rnd() * (WINDOW_MS - 2));
    events.push({ k: 'enter', e: epoch, n: n++, t, p: `p${pad(region)}-${playerBase + i}`, hunt: HUNT, tr: tr.id, region: tr.region, at: tr.at });
  }
  events.sort((a, b) => a.t - b.t);
  const records: EventRecord[] = [];
  let q = firstSeq;
  for (let i = 0; i < events.length; i += EVENTS_PER_RECORD) {
    const ev = events.slice(i, i + EVENTS_PER_RECORD);
    const next = events[i + EVENTS_PER_RECORD];
    records.push({ v: RECORD_FORMAT_VERSION, s: server, e: epoch, q: q++, pt: 0, np: 1, wm: next ? next.t - 1 : ev[ev.length - 1]!.t, ev });
  }
  records.push({ v: RECORD_FORMAT_VERSION, s: server, e: epoch, q: q++, pt: 0, np: 1, wm: from + WINDOW_MS + 1, ev: [] });
  return records;
}

async function main(): Promise<void> {
  const [phase, url, prefix, epochsJson] = process.argv.slice(2) as [string, string, string, string];
  const epochs = JSON.parse(epochsJson) as Record<string, string>;
  const redis = url.startsWith(CLUSTER_URL) ? await connectRedisCluster(url.slice(CLUSTER_URL.length)) : await connectRedis(url);
  const keys = new RedisKeys(prefix);
  const scripts = workerScripts();
  const rules = benchRules();
  const big = phase === 'big';
  const records: EventRecord[] = [];
  for (let i = 0; i < REGIONS; i++) {
    const epoch = Number(epochs[`srv-${pad(i)}`]);
    // Seqs of the big window's records start at 1; the next window's after them.
    records.push(...(big
      ? serverRecords(rules, i, epoch, 1, T0, PLAYERS_PER_REGION, 0, i === 0)
      : serverRecords(rules, i, epoch, Math.ceil((PLAYERS_PER_REGION + (i === 0 ? 1 : 0)) / EVENTS_PER_RECORD) + 2, T0 + WINDOW_MS, NEXT_PLAYERS_PER_REGION, PLAYERS_PER_REGION, false)));
  }
  const ingestStart = performance.now();
  let events = 0;
  // In seq order per server (a batch's watermark counts once every earlier batch is in).
  for (let i = 0; i < records.length; i += 32) {
    const res = await Promise.all(records.slice(i, i + 32).map((rec) => ingestRecord(redis, keys, scripts, rec)));
    events += res.reduce((s, x) => s + x.stored, 0);
  }
  const ingestMs = performance.now() - ingestStart;
  // A worker holds no records once they are ingested; neither does this one while it closes.
  records.length = 0;
  await new Promise((r) => setTimeout(r, 200));
  const metrics = new WorkerMetrics();
  let steps: Record<string, number> = {};
  let fannedOutAt = NaN;
  let merged: { ms: number; at: number } | undefined;
  const closer = new WindowCloser({
    redis, keys, scripts, metrics, log: logger('bench'), graceMs: 0, silentServerMs: 0,
    hooks: {
      // The window is closed once its prizes are on the servers' streams. The merge of its
      // finds into the player buckets follows, MERGE_DELAY_MS later at the earliest (its
      // prizes' delivery goes first), in a later pass; timed apart (mergeMs).
      afterCommit: (w) => void (steps = w.ms as unknown as Record<string, number>),
      afterFanOut: () => void (fannedOutAt = performance.now()),
      afterMerge: (m) => void (merged = { ms: m.ms, at: performance.now() }),
    },
  });
  const t0 = performance.now();
  await closer.run();
  const closeMs = fannedOutAt - t0;
  // Passes, as a worker runs them, until the merge is done: the next phase's close must
  // read the whole history.
  while (!merged) {
    await new Promise((r) => setTimeout(r, 50));
    await closer.run();
  }
  const mergeMs = merged.ms;
  const mergedAfterMs = merged.at - fannedOutAt;
  process.stdout.write(JSON.stringify({ ingestMs, events, closeMs, mergeMs, mergedAfterMs, steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, Math.round(v)])), prizes: metrics.stats.prizesCommitted, windows: metrics.stats.windowsClosed }) + '\n');
  redis.disconnect();
  if (!process.stdin.isTTY) {
    process.stdin.resume();
    await once(process.stdin, 'end');
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();
