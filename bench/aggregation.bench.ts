/**
 * Aggregation (#4): KPL aggregation of the gateway's user records.
 *
 * 1. Speed: the same user records (the parts of the sim workload's batches) aggregated
 *    into 1 MiB KPL records (MD5 included) by Cairn's AggregateBuilder and by
 *    aws-kinesis-agg's RecordAggregator (awslabs' Node module, protobufjs). 1 MiB is the
 *    only size the library builds. Figure: user records/s; aggRatio = Cairn / library.
 * 2. Density on the sim workload: the batches a plugin (SimHost bots through the real
 *    Coalescer and Triggers, 250 ms flushes, batches of <= 500 events) sends at the seed's
 *    load of about 70 k events/s, replayed on their own timeline through the gateway's
 *    real split (batch-records) and KinesisWriter into kinesalite (own process, 4 shards,
 *    default 25 KiB target and linger). Figures: events per Kinesis record and Kinesis
 *    bytes (data + partition key) per event, next to the baselines of one record per
 *    event (the seed) and one record per batch part split by size only (the gateway
 *    before aggregation), and at other lingers (the density/latency trade).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { batchToRecords, type UserRecord } from '../gateway/batch-records.js';
import { ensureStream, makeKinesisClient } from '../backend/kinesis/client.js';
import { DEFAULT_LINGER_MS } from '../gateway/kinesis-writer/options.js';
import { kinesisSink, type PutRecordsSink } from '../gateway/kinesis-writer/sink.js';
import { KinesisWriter } from '../gateway/kinesis-writer/writer.js';
import { AggregateBuilder } from '../backend/kinesis/kpl-aggregation.js';
import { PartitionScheme } from '../backend/kinesis/partition-keys.js';
import { Coalescer } from '../plugin/coalescer.js';
import { SimHost } from '../plugin/hosts/sim-host.js';
import { TreasureIndex, Triggers, type Entry } from '../plugin/triggers.js';
import { encode, type WireEvent } from '../protocol/index.js';
import { loadRulesFile } from '../plugin/rules-file.js';
import { KINESIS_MAX_RECORD_BYTES } from '../protocol/limits.js';
import { fmt, type BenchResult } from './run.js';

const require = createRequire(import.meta.url);
const HUNT = fileURLToPath(new URL('../hunts/spring.json', import.meta.url));

export interface SimBatch {
  server: string;
  seq: number;
  /** virtual time of the flush that formed it (ms from the start) */
  at: number;
  wm: number;
  ev: WireEvent[];
}

/** The seed's load (#4): 4.2 M events a minute, about 70 k/s. */
export const SEED_EVENTS_PER_SEC = 70_000;

/**
 * What `servers` plugins with `bots` sim bots each send in `seconds` of game time: every
 * 50 ms tick the bots move (SimHost), samples go through the plugin's Coalescer and
 * Triggers, and every 250 ms a flush forms batches of at most 500 events (discrete
 * events first, then the deltas), as the plugin's outbox does. Game servers' clocks are
 * not aligned: server k's timeline is shifted by k/servers of a flush interval, so the
 * flushes of the servers arrive spread over the interval rather than all at once.
 */
export function simWorkload(opts: { servers: number; bots: number; seconds: number; seed?: number }): SimBatch[] {
  const rules = loadRulesFile(HUNT);
  const t0 = 1_795_867_200_000;
  const out: SimBatch[] = [];
  for (let k = 0; k < opts.servers; k++) {
    const server = `sim-${k}`;
    let now = t0;
    const host = new SimHost(server, [rules], { bots: opts.bots, seed: (opts.seed ?? 1) + k, namePrefix: `s${k}`, cheaterEvery: 11 }, () => now);
    const co = new Coalescer();
    const triggers = new Triggers(new TreasureIndex([rules]));
    const entries: Entry[] = [];
    let pending: WireEvent[] = [];
    let n = 0;
    let seq = 0;
    for (const s of host.joinAll()) {
      triggers.join(s.player);
      pending.push({ k: 'join', e: 1, n: ++n, t: s.t, p: s.player, i: co.join(s.player, s.t) });
    }
    const offset = (250 * k) / opts.servers;
    for (let ms = 50; ms <= opts.seconds * 1000; ms += 50) {
      now = t0 + ms;
      for (const s of host.step(50)) {
        if (s.type !== 'move') continue;
        co.move(s.player, s.t, s.region, s.at[0], s.at[1], s.at[2]);
        triggers.move(s.player, s.t, s.region, s.at, entries);
        for (const e of entries) pending.push({ k: 'enter', e: 1, n: ++n, t: s.t, p: s.player, hunt: e.treasure.hunt, tr: e.treasure.id, region: s.region, at: s.at });
        entries.length = 0;
      }
      if (ms % 250 !== 0) continue;
      const events = co.flush(pending);
      pending = [];
      for (let i = 0; i < events.length || i === 0; i += 500) out.push({ server, seq: ++seq, at: ms + offset, wm: now, ev: events.slice(i, i + 500) });
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

/** Bots per server that make `servers` sim plugins send about `eventsPerSec` over `seconds` (the joins of the first second left out). */
export function botsFor(eventsPerSec: number, servers: number, seconds = 10): number {
  const guess = 1000;
  const probe = simWorkload({ servers, bots: guess, seconds }).filter((b) => b.at >= 1000);
  const rate = probe.reduce((a, b) => a + b.ev.length, 0) / (seconds - 1);
  return Math.max(2, Math.round((guess * eventsPerSec) / rate));
}

/** kinesalite in a process of its own, so its CPU is not counted as ours. */
export async function kinesaliteProcess(): Promise<{ endpoint: string; proc: ChildProcess; stop(): Promise<void> }> {
  const code = `require(${JSON.stringify(require.resolve('kinesalite'))})({createStreamMs:0,deleteStreamMs:0,updateStreamMs:0,shardLimit:100}).listen(0,'127.0.0.1',function(){process.stdout.write(this.address().port+'\\n')})`;
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('error', reject);
    proc.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    proc,
    stop: async () => {
      proc.kill();
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

interface LibAggregator {
  aggregateRecords(records: { partitionKey: string; explicitHashKey?: string; data: Buffer }[], forceFlush: boolean, onReady: (err: Error | null, encoded?: { data: Buffer }) => void): void;
}

/**
 * User records per second of each pass function: one warm-up pass each, then `rounds`
 * rounds that run every function once, in turn, so drift of the machine hits all alike;
 * the median round counts.
 */
function rates(n: number, rounds: number, passes: (() => void)[]): number[] {
  for (const p of passes) p();
  const times = passes.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    passes.forEach((p, i) => {
      const t = performance.now();
      p();
      times[i]!.push(performance.now() - t);
    });
  }
  return times.map((ts) => (n * 1000) / ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!);
}

export async function run(): Promise<BenchResult> {
  const servers = 20;
  const seconds = 10;
  const bots = botsFor(SEED_EVENTS_PER_SEC, servers, seconds);
  const sim = simWorkload({ servers, bots, seconds });
  const events = sim.reduce((a, b) => a + b.ev.length, 0);
  console.log(`sim workload: ${servers} servers x ${bots} bots, ${seconds} s: ${fmt(sim.length)} batches, ${fmt(events)} events (${fmt(events / seconds)}/s)`);

  // --- 1. speed: the same user records, 1 MiB aggregates, both implementations
  const scheme = new PartitionScheme(4);
  const users: UserRecord[] = sim.flatMap((b) => batchToRecords({ server: b.server, epoch: 1, seq: b.seq, wm: b.wm }, b.ev, { scheme }));
  const libRecords = users.map((u) => ({ partitionKey: scheme.keys[u.bucket]!, explicitHashKey: scheme.hashKeys[u.bucket]!, data: u.data }));
  const limit = KINESIS_MAX_RECORD_BYTES - 20; // what the library packs into: 1 MiB less magic and MD5
  const { RecordAggregator } = require('aws-kinesis-agg') as { RecordAggregator: new () => LibAggregator };
  let cairnOut = 0;
  let libOut = 0;
  const cairnPass = () => {
    cairnOut = 0;
    let b = new AggregateBuilder(limit);
    for (const r of libRecords) {
      if (!b.add(r)) {
        cairnOut += b.build().length;
        b = new AggregateBuilder(limit);
        b.add(r);
      }
    }
    cairnOut += b.build().length;
  };
  const libPass = () => {
    libOut = 0;
    new RecordAggregator().aggregateRecords(libRecords, true, (err, enc) => {
      if (err) throw err;
      libOut += enc!.data.length;
    });
  };
  const [cairnRate, libRate] = rates(users.length, 9, [cairnPass, libPass]) as [number, number];
  const aggRatio = cairnRate / libRate;
  console.log(`aggregate ${fmt(users.length)} user records (avg ${fmt(users.reduce((a, u) => a + u.data.length, 0) / users.length)} B) into 1 MiB KPL records:`);
  console.log(`  Cairn AggregateBuilder ${fmt(cairnRate)} user records/s vs aws-kinesis-agg RecordAggregator ${fmt(libRate)}/s (${fmt(aggRatio, 2)}x); output ${fmt(cairnOut)} vs ${fmt(libOut)} B`);

  // --- 2. density on the sim workload, through the real writer into kinesalite, on the sim's own timeline
  const k = await kinesaliteProcess();
  const client = makeKinesisClient(k.endpoint, 'us-east-1');
  try {
    /** Replays the sim into a fresh 4-shard stream through a writer with `lingerMs`; what reached Kinesis. */
    const replay = async (lingerMs: number, batches: SimBatch[]) => {
      const stream = `cairn-bench-${randomBytes(4).toString('hex')}`;
      await ensureStream(client, stream, 4);
      let records = 0;
      let bytes = 0;
      let calls = 0;
      const inner = kinesisSink(client);
      const counting: PutRecordsSink = {
        async putRecords(input) {
          calls++;
          const res = await inner.putRecords(input);
          input.Records.forEach((r, i) => {
            if (res.Records?.[i]?.ErrorCode) return;
            records++;
            bytes += r.Data.length + Buffer.byteLength(r.PartitionKey);
          });
          return res;
        },
      };
      const writer = new KinesisWriter({ sink: counting, stream, shardCount: 4, lingerMs });
      const start = performance.now();
      const writes: Promise<void>[] = [];
      for (const b of batches) {
        const wait = start + b.at - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        writes.push(writer.write(batchToRecords({ server: b.server, epoch: 1, seq: b.seq, wm: b.wm }, b.ev, { scheme: writer.scheme })));
      }
      await Promise.all(writes);
      const n = batches.reduce((a, b) => a + b.ev.length, 0);
      return { records, bytes, calls, events: n, eventsPerSec: n / ((performance.now() - start) / 1000), userRecords: writer.metrics.stats.userRecords };
    };

    // Baselines: one record per event (the seed), and one record per batch part split by size only (the gateway before aggregation).
    const naiveBytes = sim.reduce((a, b) => a + b.ev.reduce((x, e) => x + encode({ s: b.server, e: 1, q: b.seq, ev: [e] }).length + 20, 0), 0);
    const one = new PartitionScheme(1);
    const byBatch = sim.flatMap((b) => batchToRecords({ server: b.server, epoch: 1, seq: b.seq, wm: b.wm }, b.ev, { scheme: one }));
    const byBatchBytes = byBatch.reduce((a, u) => a + u.data.length + 25, 0); // + a partition key like srv/epoch/seq/part
    console.log(`into kinesalite (4 shards, one partition bucket per shard, 25 KiB target), ${fmt(events)} events:`);
    console.log(`  baseline one record per event (the seed):                 ${fmt(events).padStart(9)} records,   1.0 events/record, ${fmt(naiveBytes / events, 1)} B/event`);
    console.log(`  baseline one record per batch part, no buckets (before):  ${fmt(byBatch.length).padStart(9)} records, ${fmt(events / byBatch.length, 1).padStart(5)} events/record, ${fmt(byBatchBytes / events, 1)} B/event`);
    const main = await replay(DEFAULT_LINGER_MS, sim);
    const eventsPerRecord = events / main.records;
    const bytesPerEvent = main.bytes / events;
    console.log(
      `  KPL aggregates by player bucket, linger ${DEFAULT_LINGER_MS} ms (default): ${fmt(main.records).padStart(9)} records, ${fmt(eventsPerRecord, 1).padStart(5)} events/record, ${fmt(bytesPerEvent, 1)} B/event ` +
        `(${fmt(main.userRecords)} user records in ${fmt(main.calls)} calls, at ${fmt(main.eventsPerSec)} events/s)   (goal >= 200 events/record)`,
    );
    // The linger trades latency for density: the same workload (first 5 s) at other settings.
    const half = sim.filter((b) => b.at < 5000);
    const sweep: Record<string, number> = {};
    for (const linger of [0, 10, 20]) {
      const r = await replay(linger, half);
      sweep[`eventsPerRecordLinger${linger}`] = +(r.events / r.records).toFixed(1);
      console.log(`  same, linger ${String(linger).padStart(2)} ms (first 5 s):                 ${fmt(r.records).padStart(9)} records, ${fmt(r.events / r.records, 1).padStart(5)} events/record, ${fmt(r.bytes / r.events, 1)} B/event`);
    }
    return {
      aggRatio: +aggRatio.toFixed(2),
      cairnUserRecordsPerSec: Math.round(cairnRate),
      libUserRecordsPerSec: Math.round(libRate),
      eventsPerRecord: +eventsPerRecord.toFixed(1),
      bytesPerEvent: +bytesPerEvent.toFixed(1),
      eventsPerBatchPartRecord: +(events / byBatch.length).toFixed(1),
      ...sweep,
      simEventsPerSec: Math.round(main.eventsPerSec),
    };
  } finally {
    client.destroy();
    await k.stop();
  }
}
