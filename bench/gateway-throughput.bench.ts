/**
 * Gateway throughput (#4): simulated plugin links (a child process, so they do not share
 * the gateway's core or its CPU count) send the sim workload's batches (bench/aggregation.bench.ts: bots
 * through the plugin's real Coalescer and Triggers) over WebSocket to a real gateway on
 * real Redis, which acks each batch once it is in Kinesis and its seq is durable.
 *
 *   nullSinkEventsPerSec    as fast as 8 links with 16 batches in flight each can go,
 *                           into a sink that accepts every record and only counts
 *   nullSinkCpuUsPerEvent   in that run, the CPU time of this process (the gateway: the
 *                           links, kinesalite and Redis run in processes of their own)
 *                           after the first second, over the events acked then, as the
 *                           events/s are; printed beside it: the whole run (JIT warm-up
 *                           and every link's hello included) and, as first measured, the
 *                           whole run with the workload's hand-over to the links
 *   kinesaliteEventsPerSec  the same into kinesalite (its own process, 4 shards)
 *   ackP99Ms / ackP50Ms     batch send -> ack, the sim workload on its own timeline
 *                           (20 servers, about 70 k events/s, the seed's load) into
 *                           kinesalite; the first second (JIT warm-up, every bot
 *                           joining at once) is left out and reported on its own
 *   overheadP99Ms           in that run, per batch: ack latency minus the time its
 *                           records spent inside PutRecords calls (the union of the
 *                           calls that carried them): the gateway's own share, its
 *                           aggregation linger (putLingerMs, default 10 ms) included;
 *                           also reported with the linger off
 *   eventsPerRecordPaced    in that run: events per Kinesis record (KPL aggregate)
 *
 * Baselines printed next to them: the goals (>= 1 M events/s into the null sink,
 * overhead p99 <= 5 ms at 70 k events/s with >= 200 events per record, <= 0.5 us of
 * gateway CPU per event into the null sink) and the frames' own decode rate in this process.
 * BENCH_LINGER=ms overrides the gateway's putLingerMs for every run; BENCH_SERVERS=n runs n
 * servers instead of 20 (the total rate stays the seed's); BENCH_ONLY=null,kinesalite,paced,
 * linger0,pacednull runs only the named runs; BENCH_CPU_PROF=DIR writes a CPU profile of this
 * process (the gateway) during each run into DIR.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { ensureStream, makeKinesisClient } from '../backend/kinesis/client.js';
import { kinesisSink, type PutRecordsResult, type PutRecordsSink } from '../gateway/kinesis-writer/sink.js';
import { connectRedis, DEFAULT_REDIS_URL } from '../backend/redis/connect.js';
import { resolveRedis } from '../backend/redis/embedded-server.js';
import { RedisKeys } from '../backend/redis/keys.js';
import { startGateway, type Gateway } from '../gateway/server.js';
import { decodePluginMessage, Op, PROTOCOL_VERSION } from '../protocol/index.js';
import { botsFor, kinesaliteProcess, SEED_EVENTS_PER_SEC, simWorkload, type SimBatch } from './aggregation.bench.js';
import { encodeBatch } from '../plugin/batch-encoder.js';
import { fmt, percentile, type BenchResult } from './run.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TOKEN = 'bench-token';
const now = () => performance.timeOrigin + performance.now();

interface LinkPlan {
  server: string;
  /** paced: when each batch goes (ms from the start); max: ignored */
  at: number[];
  /** index into the shared batch list */
  batch: number[];
}

interface GenResult {
  /** per acked batch: server, seq, events, frame bytes, sent and acked (absolute ms) */
  acks: [string, number, number, number, number, number][];
  startedAt: number;
}

/** The load generator, run in a child process: plain JS on ws and msgpackr. */
const GENERATOR = `
process.once('message', (workerData) => main(workerData));
function main(workerData) {
const { createRequire } = require('node:module');
const req = createRequire(workerData.root + 'package.json');
const { WebSocket } = req('ws');
const { Packr, Unpackr } = req('msgpackr');
const opts = { structuredClone: false, useRecords: false, moreTypes: false, mapsAsObjects: true, bundleStrings: false };
const packr = new Packr(opts);
const unpackr = new Unpackr(opts);
const now = () => performance.timeOrigin + performance.now();
const { url, token, v, ops, mode, window, durationMs, links, evs, keys, counts } = workerData;
const EV = Buffer.from([0xa2, 0x65, 0x76]);
function frame(seq, wm, i) {
  const head = packr.pack({ op: ops.batch, seq, wm });
  // A map of 3 entries becomes one of 4 or 5: ev (and mv, the moves block) follow (msgpackr writes map16 headers, de 00 03).
  if (head[0] === 0xde) head[2] = keys[i];
  else head[0] = 0x80 | keys[i];
  return Buffer.concat([head, EV, evs[i]]);
}
const acks = [];
let startedAt = 0;
async function runLink(plan, k) {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  const sent = new Map();
  let welcome;
  const welcomed = new Promise((r) => (welcome = r));
  let outstanding = 0;
  let wake;
  ws.on('message', (data) => {
    const m = unpackr.unpack(data);
    if (m.op === ops.welcome) { welcome.done = true; return welcome(); }
    if (m.op !== ops.ack) return;
    const s = sent.get(m.seq);
    sent.delete(m.seq);
    acks.push([plan.server, m.seq, s[0], s[1], s[2], now()]);
    outstanding--;
    if (wake) { const w = wake; wake = undefined; w(); }
  });
  ws.on('close', (code, reason) => {
    if (sent.size > 0 || !welcome.done) { console.error('link ' + plan.server + ' closed: ' + code + ' ' + reason); process.exit(2); }
  });
  ws.send(packr.pack({ op: ops.hello, v, server: plan.server, epoch: 1, token }));
  await welcomed;
  return { ws, sent, k, next: () => new Promise((r) => (wake = r)), get outstanding() { return outstanding; }, inc() { outstanding++; } };
}
(async () => {
  const conns = await Promise.all(links.map(runLink));
  startedAt = now();
  process.send({ started: startedAt });
  await Promise.all(conns.map(async (c) => {
    const plan = links[c.k];
    if (mode === 'paced') {
      for (let j = 0; j < plan.batch.length; j++) {
        const due = startedAt + plan.at[j] - now();
        if (due > 1) await new Promise((r) => setTimeout(r, due));
        const seq = j + 1;
        const f = frame(seq, 1000 + seq, plan.batch[j]);
        c.sent.set(seq, [counts[plan.batch[j]], f.length, now()]);
        c.inc();
        c.ws.send(f);
      }
    } else {
      let seq = 0;
      while (now() - startedAt < durationMs) {
        while (c.outstanding < window) {
          const i = plan.batch[seq % plan.batch.length];
          seq++;
          const f = frame(seq, 1000 + seq, i);
          c.sent.set(seq, [counts[i], f.length, now()]);
          c.inc();
          c.ws.send(f);
        }
        await c.next();
      }
    }
    const deadline = now() + 60000;
    while (c.outstanding > 0 && now() < deadline) await Promise.race([c.next(), new Promise((r) => setTimeout(r, 100))]);
    c.ws.close();
  }));
  // 'done' first: the gateway's CPU is read on it, before the acks are deserialized there.
  process.send({ done: true });
  process.send({ acks, startedAt }, () => process.exit(0));
})().catch((err) => { console.error(err); process.exit(1); });
}
`;

interface GenCpu {
  /** CPU time (ms) of this process from the workload's hand-over to the generator's last ack: the gateway's */
  cpuMs: number;
  userMs: number;
  systemMs: number;
  /** the same from `warmAt` (1 s after the links started sending: JIT warm-up and connection set-up behind) */
  steadyCpuMs: number;
  steadyUserMs: number;
  steadySystemMs: number;
  warmAt: number;
  /** the same from the generator's spawn to the receipt of its acks: the workload's serialization and the acks' deserialization (the load generator's IPC, not the gateway's) counted too, as this figure was measured first */
  cpuMsWithIpc: number;
}

/** The 1 s after the links start sending that steady-state figures leave out (JIT warm-up, every link's hello). */
const WARM_UP_MS = 1000;

/** Runs the generator; `cpuMs` is this process's CPU time while it ran: the gateway's, Redis and the links excluded. */
async function generate(data: object): Promise<GenResult & GenCpu> {
  const profiler = process.env.BENCH_CPU_PROF ? await startProfile() : undefined;
  const res = await new Promise<GenResult & GenCpu>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', GENERATOR], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    let spawned: NodeJS.CpuUsage | undefined;
    let handedOver: NodeJS.CpuUsage | undefined;
    let warm: NodeJS.CpuUsage | undefined;
    let warmAt = NaN;
    let warmTimer: NodeJS.Timeout | undefined;
    let done: NodeJS.CpuUsage | undefined;
    let steady: NodeJS.CpuUsage | undefined;
    child.once('spawn', () => {
      spawned = process.cpuUsage();
      child.send(data);
      handedOver = process.cpuUsage();
    });
    child.on('message', (m: GenResult | { done: true } | { started: number }) => {
      if ('started' in m) {
        warmTimer = setTimeout(() => {
          warmAt = now();
          warm = process.cpuUsage();
        }, Math.max(0, m.started + WARM_UP_MS - now()));
        return;
      }
      if ('done' in m) {
        done = process.cpuUsage(handedOver);
        steady = warm ? process.cpuUsage(warm) : undefined;
        clearTimeout(warmTimer);
        return;
      }
      const all = process.cpuUsage(spawned);
      const d = done ?? process.cpuUsage(handedOver);
      const st = steady ?? { user: NaN, system: NaN };
      resolve({
        ...m,
        cpuMs: (d.user + d.system) / 1000,
        userMs: d.user / 1000,
        systemMs: d.system / 1000,
        steadyCpuMs: (st.user + st.system) / 1000,
        steadyUserMs: st.user / 1000,
        steadySystemMs: st.system / 1000,
        warmAt,
        cpuMsWithIpc: (all.user + all.system) / 1000,
      });
    });
    child.once('error', reject);
    child.once('exit', (code) => code !== 0 && reject(new Error(`generator exited with ${code}`)));
  });
  await profiler?.();
  return res;
}

let profiles = 0;
/** BENCH_CPU_PROF=DIR: profiles this process (the gateway) while a generator runs, into DIR/gateway-N.cpuprofile. */
async function startProfile(): Promise<() => Promise<void>> {
  const { Session } = await import('node:inspector/promises');
  const { writeFile, mkdir } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    const dir = process.env.BENCH_CPU_PROF!;
    await mkdir(dir, { recursive: true });
    await writeFile(`${dir}/gateway-${++profiles}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  };
}

/** A PutRecords sink that accepts everything and only counts. */
function nullSink(): PutRecordsSink {
  return {
    async putRecords(input): Promise<PutRecordsResult> {
      return { FailedRecordCount: 0, Records: input.Records.map(() => ({ SequenceNumber: '1', ShardId: 'shardId-000000000000' })) };
    },
  };
}

/** Reads s, e, q from the head of an EventRecord ({v, s, e, q, ...}) without decoding its events. */
function batchKeyOf(d: Uint8Array): string | undefined {
  let pos = d[0] === 0xde ? 3 : 1; // map16 (as msgpackr writes it) or fixmap
  const out: Record<string, string | number> = {};
  const str = (): string | undefined => {
    const b = d[pos]!;
    let len: number;
    if (b >= 0xa0 && b <= 0xbf) (len = b & 0x1f), pos++;
    else if (b === 0xd9) (len = d[pos + 1]!), (pos += 2);
    else return undefined;
    const s = Buffer.from(d.buffer, d.byteOffset + pos, len).toString();
    pos += len;
    return s;
  };
  const num = (): number | undefined => {
    const b = d[pos++]!;
    const view = new DataView(d.buffer, d.byteOffset);
    if (b <= 0x7f) return b;
    if (b === 0xcc) return d[pos++]!;
    if (b === 0xcd) return (pos += 2), view.getUint16(pos - 2);
    if (b === 0xce) return (pos += 4), view.getUint32(pos - 4);
    if (b === 0xcb) return (pos += 8), view.getFloat64(pos - 8);
    if (b === 0xcf) return (pos += 8), Number(view.getBigUint64(pos - 8));
    return undefined;
  };
  for (let f = 0; f < 4; f++) {
    const k = str();
    if (k === undefined) return undefined;
    const v = k === 's' ? str() : num();
    if (v === undefined) return undefined;
    out[k] = v;
  }
  return `${out.s}/${out.e}/${out.q}`;
}

/**
 * Wraps a sink, noting for each batch the [start, end] of every call that carried part of
 * it. During the run it only keeps each call's records and times; which batches they carry
 * is read afterwards, in calls(), so the deaggregation (MD5 check included) does not take the
 * measured gateway's event loop (it took 5% of its busy time).
 */
async function timedSink(inner: PutRecordsSink): Promise<{ sink: PutRecordsSink; calls: () => Map<string, [number, number][]> }> {
  // Aggregated records (this gateway) or plain ones (the gateway before aggregation).
  const kpl = await import('../backend/kinesis/kpl-aggregation.js').catch(() => undefined);
  const made: [Uint8Array[], number, number][] = [];
  return {
    calls: () => {
      const calls = new Map<string, [number, number][]>();
      for (const [records, start, end] of made.splice(0)) {
        const seen = new Set<string>();
        for (const data of records) {
          const users = kpl?.isAggregated(data) ? kpl.deaggregate(data).map((u) => u.data) : [data];
          for (const u of users) {
            const key = batchKeyOf(u);
            if (key) seen.add(key);
          }
        }
        for (const key of seen) calls.set(key, [...(calls.get(key) ?? []), [start, end]]);
      }
      return calls;
    },
    sink: {
      async putRecords(input) {
        const start = now();
        const res = await inner.putRecords(input);
        made.push([input.Records.map((r) => r.Data), start, now()]);
        return res;
      },
    },
  };
}

/** Length of the union of intervals, clipped to [from, to]. */
function covered(intervals: [number, number][], from: number, to: number): number {
  const xs = intervals.map(([a, b]) => [Math.max(a, from), Math.min(b, to)] as [number, number]).filter(([a, b]) => b > a).sort((p, q) => p[0] - q[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of xs) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

interface Env {
  redis: Awaited<ReturnType<typeof connectRedis>>;
  stopRedis(): Promise<void>;
}

let goalsMissed = 0;
/** A goal as met or missed, with the ratio of the figure to it (a miss counted in goalsMissed). */
function goal(name: string, value: number, target: number, atMost: boolean): string {
  const met = atMost ? value <= target : value >= target;
  if (!met) goalsMissed++;
  return `goal ${name} ${atMost ? '<=' : '>='} ${fmt(target, 1)}: ${met ? 'met' : 'missed'} (${fmt(value, 2)}, ratio ${fmt(value / target, 2)})`;
}

async function withGateway<T>(env: Env, sink: PutRecordsSink, fn: (gw: Gateway) => Promise<T>, extra: { putLingerMs?: number } = {}): Promise<T> {
  const keys = new RedisKeys(`cairn-bench:gw-${randomBytes(4).toString('hex')}`);
  const client = makeKinesisClient('http://127.0.0.1:9', 'us-east-1'); // never called: `sink` replaces it
  const gw = await startGateway({ port: 0, host: '127.0.0.1', token: TOKEN, redis: env.redis, keys, kinesis: client, stream: 'bench', registry: new Registry(), sink, shardCount: 4, ...(process.env.BENCH_LINGER ? { putLingerMs: Number(process.env.BENCH_LINGER) } : {}), ...extra });
  try {
    return await fn(gw);
  } finally {
    await gw.close();
    client.destroy();
    let cursor = '0';
    do {
      const [next, found] = await env.redis.scan(cursor, 'MATCH', `${keys.prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (found.length) await env.redis.del(...found);
    } while (cursor !== '0');
  }
}

const ops = { hello: Op.Hello, batch: Op.Batch, ack: Op.Ack, welcome: Op.Welcome };
/** Entries of each batch frame's map (4, or 5 with a moves block), by batch. */
let frameKeys: number[] = [];

/** As fast as it goes: events/s and MB/s of acked batches after a 1 s warm-up, and ack latencies. */
async function maxRun(gw: Gateway, sim: SimBatch[], evs: Buffer[], durationMs: number) {
  const links: LinkPlan[] = Array.from({ length: 8 }, (_, k) => ({
    server: `max-${k}-${randomBytes(2).toString('hex')}`,
    at: [],
    batch: sim.map((_, j) => (j + Math.floor((k * sim.length) / 8)) % sim.length),
  }));
  const res = await generate({ root: ROOT, url: gw.url, token: TOKEN, v: PROTOCOL_VERSION, ops, mode: 'max', window: 16, durationMs, links, evs, keys: frameKeys, counts: sim.map((b) => b.ev.length) });
  const from = res.startedAt + 1000;
  const inWindow = res.acks.filter((a) => a[5] >= from);
  const last = Math.max(...inWindow.map((a) => a[5]));
  const secs = (last - from) / 1000;
  const lat = res.acks.map((a) => a[5] - a[4]).sort((a, b) => a - b);
  const allEvents = res.acks.reduce((x, a) => x + a[2], 0);
  // Steady state: the CPU from warmAt on, over the events acked from then on.
  const steadyEvents = res.acks.filter((a) => a[5] >= res.warmAt).reduce((x, a) => x + a[2], 0);
  return {
    cpuUsPerEvent: (res.steadyCpuMs * 1000) / steadyEvents,
    userUsPerEvent: (res.steadyUserMs * 1000) / steadyEvents,
    systemUsPerEvent: (res.steadySystemMs * 1000) / steadyEvents,
    cpuUsPerEventWholeRun: (res.cpuMs * 1000) / allEvents,
    cpuUsPerEventWithIpc: (res.cpuMsWithIpc * 1000) / allEvents,
    eventsPerSec: inWindow.reduce((x, a) => x + a[2], 0) / secs,
    mbPerSec: inWindow.reduce((x, a) => x + a[3], 0) / secs / 1e6,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
  };
}

/** The sim workload on its own timeline, one link per server; per batch ack latency and overhead. */
async function pacedRun(gw: Gateway, sim: SimBatch[], evs: Buffer[], callsOf: () => Map<string, [number, number][]>) {
  const servers = [...new Set(sim.map((b) => b.server))];
  const tag = randomBytes(2).toString('hex');
  const links: LinkPlan[] = servers.map((s) => {
    const mine = sim.map((b, j) => [b, j] as const).filter(([b]) => b.server === s);
    return { server: `${s}-${tag}`, at: mine.map(([b]) => b.at), batch: mine.map(([, j]) => j) };
  });
  const res = await generate({ root: ROOT, url: gw.url, token: TOKEN, v: PROTOCOL_VERSION, ops, mode: 'paced', window: 0, durationMs: 0, links, evs, keys: frameKeys, counts: sim.map((b) => b.ev.length) });
  const calls = callsOf();
  const lat: number[] = [];
  const over: number[] = [];
  const warm: number[] = [];
  let events = 0;
  for (const [server, seq, n, , sent, acked] of res.acks) {
    events += n;
    if (sent < res.startedAt + 1000) {
      warm.push(acked - sent);
      continue;
    }
    lat.push(acked - sent);
    over.push(acked - sent - covered(calls.get(`${server}/1/${seq}`) ?? [], sent, acked));
  }
  lat.sort((a, b) => a - b);
  over.sort((a, b) => a - b);
  const secs = (Math.max(...res.acks.map((a) => a[5])) - res.startedAt) / 1000;
  warm.sort((a, b) => a - b);
  const { records } = gw.stats();
  return {
    eventsPerSec: events / secs,
    eventsPerRecord: events / Math.max(1, records),
    cpuUsPerEvent: (res.cpuMs * 1000) / events,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    overP50: percentile(over, 50),
    overP99: percentile(over, 99),
    batches: res.acks.length,
    warmP99: percentile(warm, 99),
  };
}

/** BENCH_ONLY: the runs to do (all when unset); a run left out reports NaN figures. */
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
async function maybe<T extends object>(name: string, fn: () => Promise<T>): Promise<T> {
  if (!only || only.includes(name)) return fn();
  return new Proxy({}, { get: () => NaN }) as T;
}

export async function run(): Promise<BenchResult> {
  goalsMissed = 0;
  const r = await resolveRedis(process.env.CAIRN_REDIS_URL ?? DEFAULT_REDIS_URL, true);
  const env: Env = { redis: await connectRedis(r.url), stopRedis: () => r.stop() };
  // BENCH_SERVERS: the same ~70 k events/s (the seed's load) from n links instead of 20.
  const servers = Number(process.env.BENCH_SERVERS ?? 20);
  const sim = simWorkload({ servers, bots: botsFor(SEED_EVENTS_PER_SEC, servers, 10), seconds: 10 });
  // Each batch as the plugin frames it (protocol 2), from after its "ev" key: the ev array, then mv and its moves block.
  const whole = sim.map((b) => encodeBatch(1, 1, b.ev));
  frameKeys = whole.map((f) => f[2]!);
  const evs = whole.map((f) => f.subarray(f.indexOf(Buffer.from([0xa2, 0x65, 0x76]), 3) + 3));
  const events = sim.reduce((a, b) => a + b.ev.length, 0);
  const frameBytes = evs.reduce((a, e) => a + e.length + 20, 0);
  console.log(`sim workload: ${fmt(sim.length)} batches, ${fmt(events)} events over 10 s (${fmt(events / 10)}/s), ${fmt(frameBytes / events, 1)} B/event on the wire`);
  // Baseline: what decoding alone (scan, msgpack, validation) allows on this core.
  const frames = whole.slice(0, 200);
  const t0 = performance.now();
  let decoded = 0;
  for (let rep = 0; rep < 5; rep++) for (const f of frames) decoded += decodePluginMessage(f).op === Op.Batch ? 1 : 0;
  const decodeEventsPerSec = (5 * sim.slice(0, 200).reduce((a, b) => a + b.ev.length, 0) * 1000) / (performance.now() - t0);
  console.log(`baseline: decoding the frames alone (scan + msgpack + validation): ${fmt(decodeEventsPerSec)} events/s (${decoded} frames)`);

  try {
    const nul = await maybe('null', () => withGateway(env, nullSink(), (gw) => maxRun(gw, sim, evs, 6000)));
    console.log(
      `null sink, 8 links x 16 batches in flight: ${fmt(nul.eventsPerSec)} events/s, ${fmt(nul.mbPerSec, 1)} MB/s, gateway CPU ${fmt(nul.cpuUsPerEvent, 2)} us/event after the first second ` +
        `(user ${fmt(nul.userUsPerEvent, 2)}, system ${fmt(nul.systemUsPerEvent, 2)}; ${fmt(nul.cpuUsPerEventWholeRun, 2)} over the whole run, JIT warm-up and hellos included; ` +
        `${fmt(nul.cpuUsPerEventWithIpc, 2)} with the generator's IPC counted too, as first measured); ` +
        `ack p50 ${fmt(nul.p50, 1)} ms, p99 ${fmt(nul.p99, 1)} ms   (goal >= 1,000,000 events/s)`,
    );
    console.log(`  ${goal('gateway CPU us/event', nul.cpuUsPerEvent, 0.5, true)}`);

    const k = await kinesaliteProcess();
    const client = makeKinesisClient(k.endpoint, 'us-east-1');
    try {
      const stream = `bench-${randomBytes(4).toString('hex')}`;
      await ensureStream(client, stream, 4);
      const real = kinesisSink(client);
      const withStream = (s: PutRecordsSink): PutRecordsSink => ({ putRecords: (input) => s.putRecords({ ...input, StreamName: stream }) });
      const kin = await maybe('kinesalite', () => withGateway(env, withStream(real), (gw) => maxRun(gw, sim, evs, 6000)));
      console.log(`kinesalite (own process, 4 shards), same load: ${fmt(kin.eventsPerSec)} events/s, ${fmt(kin.mbPerSec, 1)} MB/s; ack p50 ${fmt(kin.p50, 1)} ms, p99 ${fmt(kin.p99, 1)} ms`);

      const timed = await timedSink(withStream(real));
      const paced = await maybe('paced', () => withGateway(env, timed.sink, (gw) => pacedRun(gw, sim, evs, timed.calls)));
      console.log(
        `sim workload on its own timeline into kinesalite (${servers} links, ${fmt(paced.eventsPerSec)} events/s): ack p50 ${fmt(paced.p50, 1)} ms, p99 ${fmt(paced.p99, 1)} ms; ` +
          `overhead beyond PutRecords p50 ${fmt(paced.overP50, 2)} ms, p99 ${fmt(paced.overP99, 2)} ms; ${fmt(paced.eventsPerRecord, 1)} events per Kinesis record; first second ack p99 ${fmt(paced.warmP99, 1)} ms`,
      );
      console.log(`  ${goal('overhead p99 ms', paced.overP99, 5, true)}; ${goal('events per record', paced.eventsPerRecord, 200, false)}`);
      const timed0 = await timedSink(withStream(real));
      const paced0 = await maybe('linger0', () => withGateway(env, timed0.sink, (gw) => pacedRun(gw, sim, evs, timed0.calls), { putLingerMs: 0 }));
      console.log(
        `same with putLingerMs 0 (no aggregation wait): ack p50 ${fmt(paced0.p50, 1)} ms, p99 ${fmt(paced0.p99, 1)} ms; overhead p50 ${fmt(paced0.overP50, 2)} ms, p99 ${fmt(paced0.overP99, 2)} ms; ${fmt(paced0.eventsPerRecord, 1)} events per record`,
      );
      const pacedNull = await maybe('pacednull', () => withGateway(env, nullSink(), (gw) => pacedRun(gw, sim, evs, () => new Map())));
      console.log(`same, into the null sink (gateway CPU ${fmt(pacedNull.cpuUsPerEvent, 2)} us/event): ack p50 ${fmt(pacedNull.p50, 2)} ms, p99 ${fmt(pacedNull.p99, 2)} ms (all of it the gateway's, WebSocket and Redis included); first second p99 ${fmt(pacedNull.warmP99, 1)} ms`);
      return {
        goalsMissed,
        nullSinkEventsPerSec: Math.round(nul.eventsPerSec),
        nullSinkMBPerSec: +nul.mbPerSec.toFixed(1),
        nullSinkCpuUsPerEvent: +nul.cpuUsPerEvent.toFixed(3),
        nullSinkCpuUsPerEventWholeRun: +nul.cpuUsPerEventWholeRun.toFixed(3),
        nullSinkCpuUsPerEventWithIpc: +nul.cpuUsPerEventWithIpc.toFixed(3),
        kinesaliteEventsPerSec: Math.round(kin.eventsPerSec),
        kinesaliteMBPerSec: +kin.mbPerSec.toFixed(1),
        ackP50Ms: +paced.p50.toFixed(2),
        ackP99Ms: +paced.p99.toFixed(2),
        overheadP99Ms: +paced.overP99.toFixed(2),
        overheadP50Ms: +paced.overP50.toFixed(2),
        overheadP99MsLinger0: +paced0.overP99.toFixed(2),
        eventsPerRecordPaced: +paced.eventsPerRecord.toFixed(1),
        eventsPerRecordPacedLinger0: +paced0.eventsPerRecord.toFixed(1),
        pacedEventsPerSec: Math.round(paced.eventsPerSec),
        nullSinkPacedAckP99Ms: +pacedNull.p99.toFixed(2),
        decodeEventsPerSec: Math.round(decodeEventsPerSec),
      };
    } finally {
      client.destroy();
      await k.stop();
    }
  } finally {
    env.redis.disconnect();
    await env.stopRedis();
  }
}
