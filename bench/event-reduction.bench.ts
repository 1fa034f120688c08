/**
 * Event reduction on the sim workload (plugin/hosts/sim-host.ts, the bots of `cairn demo`):
 * 2 x 100 bots walking between the treasures of hunts/spring.json at 20 Hz (one in eleven
 * a speed cheater), 10 minutes of game time, the plugin flushing every 250 ms into a real
 * socket. Raw samples in against what goes on the wire:
 *
 * - events: deltas + discrete events in batches (what the gateway writes to Kinesis), and
 *   frames (WebSocket messages), against the baseline of sending every sample;
 * - finds: the first entry of each player into each treasure, found by a brute-force check
 *   of every raw sample against every treasure (no grid, no coalescing), against the enter
 *   events that reached the gateway; and against the other baseline, last-state-per-flush
 *   (each player's latest position checked once per flush), which misses short visits.
 *
 * - bytes: wire bytes (batch frames) and Kinesis bytes (the gateway's records: each batch's
 *   user records, KPL-aggregated per partition bucket, data + partition key) per raw sample,
 *   against the baseline of one msgpack event per sample, one Kinesis record each; PUT
 *   payload units (25 KB) per million raw samples;
 * - cost at the seed's load (4.2 M samples a minute, 70 k/s): what Kinesis would cost a
 *   month (730 h) with Cairn's bytes and records and with one record per sample.
 *
 * AWS list prices, Kinesis Data Streams, US East (N. Virginia), taken 2026-11-29 from
 * https://aws.amazon.com/kinesis/data-streams/pricing/ (provisioned figures also match
 * third-party calculators citing us-east-1): provisioned $0.015 per shard-hour and $0.014
 * per million PUT payload units (25 KB each, per record, rounded up); a shard takes 1 MiB/s
 * and 1,000 records/s. On-demand $0.04 per stream-hour and $0.08 per GB written, each
 * record rounded up to 1 KB (reads, retention and fan-out left out: the same for both).
 *
 * Keys: `reduction` = 1 - wire events / raw samples, `findsLost` (goal 0), `wireBytesPerSample`,
 * `kinesisBytesPerSample` (goal: at most a tenth of the per-sample baseline),
 * `putUnitsPerMillionSamples`, `monthlyUsdCairn`, `monthlyUsdPerSample` (provisioned mode).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePluginMessage, encode, KINESIS_PUT_PAYLOAD_UNIT_BYTES, Op, type EnterEvent, type HuntRules } from '../protocol/index.js';
import { loadRulesFile } from '../plugin/rules-file.js';
import { batchToRecords } from '../gateway/batch-records.js';
import { AggregateBuilder } from '../backend/kinesis/kpl-aggregation.js';
import { PARTITION_SCHEME } from '../backend/kinesis/partition-keys.js';
import { CairnPlugin } from '../plugin/cairn-plugin.js';
import type { Sample } from '../plugin/host.js';
import { SimHost } from '../plugin/hosts/sim-host.js';
import { FakeGateway } from '../test/plugin/support/fake-gateway.js';
import { fmt, type BenchResult } from './run.js';

const RULES = new URL('../hunts/spring.json', import.meta.url).pathname;
const BOTS_PER_SERVER = 100;
const TICK_MS = 50;
const FLUSH_MS = 250;
const GAME_MS = 10 * 60_000;
const T0 = Date.UTC(2026, 11, 1, 18, 0, 0);

type Key = string; // `${player}/${hunt}:${treasure}`; bot names carry their server's prefix

/** First entry of each player into each treasure, checking every sample against every treasure. */
class BruteFinds {
  readonly first = new Map<Key, number>();
  private readonly inside = new Map<string, Set<string>>();
  constructor(private readonly hunts: HuntRules[]) {}
  sample(s: Sample): void {
    const who = s.player;
    if (s.type === 'join' || s.type === 'leave') {
      this.inside.delete(who);
      return;
    }
    if (s.type !== 'move') return;
    const was = this.inside.get(who);
    const now = new Set<string>();
    for (const h of this.hunts) {
      for (const tr of h.treasures) {
        if (tr.region !== s.region) continue;
        const dx = s.at[0] - tr.at[0];
        const dy = s.at[1] - tr.at[1];
        const dz = s.at[2] - tr.at[2];
        if (dx * dx + dy * dy + dz * dz > tr.radius * tr.radius) continue;
        const id = `${h.id}:${tr.id}`;
        now.add(id);
        const key = `${who}/${id}`;
        if (!was?.has(id) && !this.first.has(key)) this.first.set(key, s.t);
      }
    }
    this.inside.set(who, now);
  }
}

/** AWS list prices (see the module comment). */
const PRICE = {
  shardHour: 0.015,
  perMillionPutUnits: 0.014,
  shardBytesPerSec: 1024 * 1024,
  shardRecordsPerSec: 1000,
  onDemandStreamHour: 0.04,
  onDemandPerGb: 0.08,
};
const SEED_SAMPLES_PER_SEC = 4_200_000 / 60;
const MONTH_HOURS = 730;

interface KinesisLoad {
  /** Kinesis records (data + partition key bytes) */
  records: number;
  bytes: number;
  putUnits: number;
  /** bytes with each record rounded up to 1 KB (on-demand billing) */
  billedKb: number;
}

const newLoad = (): KinesisLoad => ({ records: 0, bytes: 0, putUnits: 0, billedKb: 0 });
function addRecord(l: KinesisLoad, bytes: number): void {
  l.records++;
  l.bytes += bytes;
  l.putUnits += Math.ceil(bytes / KINESIS_PUT_PAYLOAD_UNIT_BYTES);
  l.billedKb += Math.ceil(bytes / 1024);
}

/**
 * The Kinesis records the gateway makes of these frames: each batch's user records,
 * aggregated per bucket into records of at most the 25 KiB target. `acrossBatches`: a
 * bucket's record also takes later batches' user records until full (what a long linger
 * gives); without it, each batch's records stand alone (the default 10 ms linger at one
 * batch per server every 250 ms).
 */
function kinesisLoad(frames: Buffer[], server: string[], acrossBatches: boolean): KinesisLoad {
  const scheme = PARTITION_SCHEME;
  const load = newLoad();
  const open = new Map<number, AggregateBuilder>();
  const close = (bucket: number) => {
    const b = open.get(bucket);
    if (b && b.count > 0) addRecord(load, b.size + scheme.keys[bucket]!.length);
    open.delete(bucket);
  };
  frames.forEach((frame, k) => {
    const msg = decodePluginMessage(frame);
    if (msg.op !== Op.Batch) return;
    for (const u of batchToRecords({ server: server[k]!, epoch: 1, seq: msg.seq, wm: msg.wm }, msg.ev, { scheme, frame })) {
      const pk = scheme.keys[u.bucket]!;
      let b = open.get(u.bucket);
      if (!b) open.set(u.bucket, (b = new AggregateBuilder(KINESIS_PUT_PAYLOAD_UNIT_BYTES - pk.length)));
      const rec = { partitionKey: pk, explicitHashKey: scheme.hashKeys[u.bucket]!, data: u.data };
      if (!b.add(rec)) {
        close(u.bucket);
        const fresh = new AggregateBuilder(KINESIS_PUT_PAYLOAD_UNIT_BYTES - pk.length);
        fresh.add(rec);
        open.set(u.bucket, fresh);
      }
    }
    if (!acrossBatches) for (const bucket of [...open.keys()]) close(bucket);
  });
  for (const bucket of [...open.keys()]) close(bucket);
  return load;
}

/** Monthly cost at the seed's load of a stream carrying `l` for `samples` raw samples. */
function monthlyUsd(l: KinesisLoad, samples: number): { provisioned: number; onDemand: number; shards: number } {
  const perSec = SEED_SAMPLES_PER_SEC / samples;
  const secs = MONTH_HOURS * 3600;
  const shards = Math.max(1, Math.ceil((l.bytes * perSec) / PRICE.shardBytesPerSec), Math.ceil((l.records * perSec) / PRICE.shardRecordsPerSec));
  const provisioned = shards * PRICE.shardHour * MONTH_HOURS + ((l.putUnits * perSec * secs) / 1e6) * PRICE.perMillionPutUnits;
  const onDemand = PRICE.onDemandStreamHour * MONTH_HOURS + ((l.billedKb * perSec * secs) / (1024 * 1024)) * PRICE.onDemandPerGb;
  return { provisioned, onDemand, shards };
}

interface Outcome {
  samples: number;
  kinesis: KinesisLoad;
  kinesisFilled: KinesisLoad;
  /** the baseline: one msgpack event per raw sample, one Kinesis record each */
  perSample: KinesisLoad;
  wireEvents: number;
  frames: number;
  bytes: number;
  finds: number;
  findsLost: number;
  lastStateLost: number;
  ms: number;
}

async function simulate(rules: HuntRules, flushMs: number): Promise<Outcome> {
  // One peer per server: the fake peer tells batches apart by seq only.
  const gws = [await FakeGateway.start(), await FakeGateway.start()];
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-'));
  let clock = T0;
  const servers = ['srv-a', 'srv-b'];
  const hosts = servers.map((s, i) => new SimHost(s, [rules], { bots: BOTS_PER_SERVER, seed: 7 + i, namePrefix: s.slice(-1), cheaterEvery: 11 }, () => clock));
  const plugins: CairnPlugin[] = [];
  const brute = new BruteFinds([rules]);
  const lastState = new BruteFinds([rules]);
  const latest = servers.map(() => new Map<string, Sample>());
  let samples = 0;
  const perSample = newLoad();
  try {
    for (const [i, host] of hosts.entries()) {
      plugins.push(await CairnPlugin.start({ host, hunts: [rules], dataDir: join(dir, host.serverId), gatewayUrl: gws[i]!.url, token: 'bench', autoFlush: false }));
    }
    const feed = (i: number, batch: Sample[]) => {
      for (const s of batch) {
        samples++;
        // the baseline's record: the sample as one msgpack event, keyed by its player
        addRecord(perSample, encode(s as object).length + Buffer.byteLength(s.player));
        plugins[i]!.accept(s);
        brute.sample(s);
        if (s.type === 'move') latest[i]!.set(s.player, s);
        else lastState.sample(s);
      }
    };
    hosts.forEach((h, i) => feed(i, h.joinAll()));
    feed(0, [hosts[0]!.command(hosts[0]!.admin, `hunt start ${rules.id}`)]);
    const started = performance.now();
    for (let t = TICK_MS; t <= GAME_MS; t += TICK_MS) {
      clock = T0 + t;
      hosts.forEach((h, i) => feed(i, h.step(TICK_MS)));
      if (t % flushMs === 0) {
        for (const p of plugins) p.flush();
        // the baseline: each player's latest state, once per flush
        for (const m of latest) {
          for (const s of m.values()) lastState.sample(s);
          m.clear();
        }
        if (t % 10_000 === 0) await Promise.all(plugins.map((p) => p.drain()));
      }
    }
    clock += 1;
    for (const p of plugins) p.flush({ force: true });
    await Promise.all(plugins.map((p) => p.drain()));
    const ms = performance.now() - started;

    const wire = new Map<Key, number>();
    let wireEvents = 0;
    let frames = 0;
    let bytes = 0;
    for (const b of gws.flatMap((gw) => gw.unique())) {
      frames++;
      wireEvents += b.ev.length;
      for (const e of b.ev) {
        if (e.k !== 'enter') continue;
        const key = `${e.p}/${e.hunt}:${(e as EnterEvent).tr}`;
        const prev = wire.get(key);
        if (prev === undefined || e.t < prev) wire.set(key, e.t);
      }
    }
    for (const b of gws.flatMap((gw) => gw.batches)) bytes += b.bytes.length;
    const unique = gws.flatMap((gw, i) => gw.unique().map((b) => ({ frame: (b as { bytes: Buffer }).bytes, server: servers[i]! })));
    const kinesis = kinesisLoad(unique.map((u) => u.frame), unique.map((u) => u.server), false);
    const kinesisFilled = kinesisLoad(unique.map((u) => u.frame), unique.map((u) => u.server), true);
    const lostBy = (found: Map<Key, number>) => [...brute.first].filter(([k, t]) => found.get(k) !== t).length;
    const findsLost = lostBy(wire);
    const lastStateLost = lostBy(lastState.first);
    return { samples, kinesis, kinesisFilled, perSample, wireEvents, frames, bytes, finds: brute.first.size, findsLost, lastStateLost, ms };
  } finally {
    for (const p of plugins) await p.stop(2000);
    for (const gw of gws) await gw.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult> {
  const rules = loadRulesFile(RULES);
  const o = await simulate(rules, FLUSH_MS);
  const slow = await simulate(rules, 1000);
  const reduction = 1 - o.wireEvents / o.samples;
  const frameReduction = 1 - o.frames / o.samples;
  console.log(`sim workload: 2 x ${BOTS_PER_SERVER} bots, ${GAME_MS / 60_000} min of game time at ${1000 / TICK_MS} Hz, flush every ${FLUSH_MS} ms (the default; ran in ${fmt(o.ms)} ms)`);
  console.log(`  raw samples in:                 ${fmt(o.samples)} (baseline: sending every sample = ${fmt(o.samples)} events)`);
  console.log(`  on the wire:                    ${fmt(o.wireEvents)} events (deltas + discrete) in ${fmt(o.frames)} frames, ${fmt(o.bytes)} bytes`);
  console.log(`  reduction:                      events ${fmt(reduction * 100, 2)}% (bytes are the figure now, below), frames ${fmt(frameReduction * 100, 3)}%`);
  console.log(`    (a walking bot samples ${FLUSH_MS / TICK_MS} times per flush and has moved each time: one delta per flush bounds events at ${fmt((1 - TICK_MS / FLUSH_MS) * 100, 0)}%)`);
  console.log(`  with a 1000 ms flush:           events ${fmt((1 - slow.wireEvents / slow.samples) * 100, 2)}%, finds lost ${slow.findsLost}`);
  console.log(`  finds in the raw samples:       ${fmt(o.finds)}`);
  console.log(`  finds lost, Cairn:              ${o.findsLost}`);
  console.log(`  finds lost, last-state-per-flush (baseline): ${o.lastStateLost}`);
  const per = (n: number) => n / o.samples;
  const wireBytesPerSample = per(o.bytes);
  const kinesisBytesPerSample = per(o.kinesis.bytes);
  const baselineBytesPerSample = per(o.perSample.bytes);
  const putUnitsPerMillionSamples = per(o.kinesis.putUnits) * 1e6;
  const cairnUsd = monthlyUsd(o.kinesis, o.samples);
  const filledUsd = monthlyUsd(o.kinesisFilled, o.samples);
  const baseUsd = monthlyUsd(o.perSample, o.samples);
  const bytesGoal = kinesisBytesPerSample <= baselineBytesPerSample / 10;
  console.log(`  bytes per raw sample:           wire ${fmt(wireBytesPerSample, 2)} B, Kinesis ${fmt(kinesisBytesPerSample, 2)} B in ${fmt(o.kinesis.records)} records (${fmt(per(o.kinesisFilled.bytes), 2)} B in ${fmt(o.kinesisFilled.records)} with records filled)`);
  console.log(`    baseline, one msgpack event per sample: ${fmt(baselineBytesPerSample, 2)} B in ${fmt(o.perSample.records)} records: Kinesis bytes ${fmt(kinesisBytesPerSample / baselineBytesPerSample, 3)}x (goal <= 0.1: ${bytesGoal ? 'met' : 'missed'})`);
  console.log(`  PUT payload units per million raw samples: ${fmt(putUnitsPerMillionSamples, 0)} (baseline ${fmt(per(o.perSample.putUnits) * 1e6, 0)})`);
  console.log(`  Kinesis a month at the seed's 4.2 M samples/min (us-east-1 list prices of 2026-11-29):`);
  console.log(`    provisioned: Cairn $${fmt(cairnUsd.provisioned, 2)} (${cairnUsd.shards} shards; $${fmt(filledUsd.provisioned, 2)} with records filled), one record per sample $${fmt(baseUsd.provisioned, 2)} (${baseUsd.shards} shards)`);
  console.log(`    on-demand:   Cairn $${fmt(cairnUsd.onDemand, 2)}, one record per sample $${fmt(baseUsd.onDemand, 2)}`);
  console.log(`  finds lost: ${o.findsLost} (goal 0: ${o.findsLost === 0 ? 'met' : 'missed'})`);
  return {
    wireBytesPerSample: +wireBytesPerSample.toFixed(3),
    kinesisBytesPerSample: +kinesisBytesPerSample.toFixed(3),
    baselineBytesPerSample: +baselineBytesPerSample.toFixed(3),
    kinesisBytesRatio: +(kinesisBytesPerSample / baselineBytesPerSample).toFixed(4),
    putUnitsPerMillionSamples: Math.round(putUnitsPerMillionSamples),
    monthlyUsdCairn: +cairnUsd.provisioned.toFixed(2),
    monthlyUsdPerSample: +baseUsd.provisioned.toFixed(2),
    monthlyUsdCairnOnDemand: +cairnUsd.onDemand.toFixed(2),
    monthlyUsdPerSampleOnDemand: +baseUsd.onDemand.toFixed(2),
    goalsMissed: (o.findsLost === 0 ? 0 : 1) + (bytesGoal ? 0 : 1),
    reduction: +reduction.toFixed(4),
    findsLost: o.findsLost,
    samples: o.samples,
    wireEvents: o.wireEvents,
    frames: o.frames,
    frameReduction: +frameReduction.toFixed(5),
    reductionAt1sFlush: +(1 - slow.wireEvents / slow.samples).toFixed(4),
    finds: o.finds,
    lastStatePerFlushFindsLost: o.lastStateLost,
  };
}
