/**
 * Cairn's coalescer + msgpackr against @colyseus/schema on the same workload (issue 3):
 * 10 k players, 20% of them moving (x and z) each tick, 20 Hz for 60 s of game time.
 *
 * - Cairn: per tick, `Coalescer.move` for every moving player, then a flush and the batch
 *   frames as the outbox encodes them (batches of 500 events; plugin/batch-encoder.ts, the
 *   bytes msgpackr gives, written faster) — the bytes that go on the wire. msgpackr's own
 *   `encode` of the same batches is printed too.
 * - Colyseus (the named baseline): a `MapSchema` of players with `x, y, z` as `number`
 *   (the type of Colyseus' own examples), the fields set per tick, then the Encoder's
 *   `encode()` and `discardChanges()`. A float32 schema is printed too, for reference.
 *
 * Figures: bytes per changed player and µs per tick for each; keys `bytesRatio` and
 * `timeRatio` are Cairn / Colyseus (goal: bytes <= 0.7, time <= 1).
 */
import { Encoder, MapSchema, schema, t } from '@colyseus/schema';
import { encode, Op, type WireEvent } from '../protocol/index.js';
import { encodeBatch } from '../plugin/batch-encoder.js';
import { Coalescer } from '../plugin/coalescer.js';
import { DEFAULT_BATCH_MAX_EVENTS } from '../plugin/outbox.js';
import { rng } from '../plugin/hosts/sim-host.js';
import { fmt, type BenchResult } from './run.js';

const PLAYERS = 10_000;
const TICKS = 20 * 60;
const CHANGING = 0.2;
const T0 = 1_795_867_200_000;

/** The moving players of every tick and their new positions, the same for both encoders. */
interface Workload {
  ids: string[];
  start: Float64Array;
  /** per tick: player indices */
  who: Int32Array[];
  /** per tick: x, z of each moving player */
  xz: Float64Array[];
}

function workload(): Workload {
  const random = rng(7);
  const ids = Array.from({ length: PLAYERS }, (_, i) => `player-${i}`);
  const start = new Float64Array(PLAYERS * 3);
  for (let i = 0; i < PLAYERS; i++) {
    start[i * 3] = random() * 1000 - 500;
    start[i * 3 + 1] = 64;
    start[i * 3 + 2] = random() * 1000 - 500;
  }
  const pos = Float64Array.from(start);
  const perTick = Math.round(PLAYERS * CHANGING);
  const who: Int32Array[] = [];
  const xz: Float64Array[] = [];
  const order = Int32Array.from({ length: PLAYERS }, (_, i) => i);
  for (let tick = 0; tick < TICKS; tick++) {
    // perTick distinct players: a partial Fisher-Yates shuffle
    for (let k = 0; k < perTick; k++) {
      const j = k + Math.floor(random() * (PLAYERS - k));
      const tmp = order[k]!;
      order[k] = order[j]!;
      order[j] = tmp;
    }
    const w = order.slice(0, perTick);
    const v = new Float64Array(perTick * 2);
    for (let k = 0; k < perTick; k++) {
      const i = w[k]!;
      // walking speed, ~4 blocks/s at 20 Hz
      pos[i * 3] = pos[i * 3]! + (random() - 0.5) * 0.4;
      pos[i * 3 + 2] = pos[i * 3 + 2]! + (random() - 0.5) * 0.4;
      v[k * 2] = pos[i * 3]!;
      v[k * 2 + 1] = pos[i * 3 + 2]!;
    }
    who.push(w);
    xz.push(v);
  }
  return { ids, start, who, xz };
}

/** One encoder over the workload, run a segment of ticks at a time (segments interleave across encoders). */
interface Runner {
  /** runs ticks [from, to) and returns the ms they took */
  run(from: number, to: number): number;
  bytes: number;
  changed: number;
}

function cairn(w: Workload, viaMsgpackr = false): Runner {
  const c = new Coalescer();
  for (let i = 0; i < PLAYERS; i++) {
    c.join(w.ids[i]!, T0);
    c.move(w.ids[i]!, T0, 'r1', w.start[i * 3]!, w.start[i * 3 + 1]!, w.start[i * 3 + 2]!);
  }
  let seq = 0;
  for (const ev of chunks(c.flush())) encode({ op: Op.Batch, seq: ++seq, wm: T0, ev });
  const events: WireEvent[] = [];
  const r: Runner = {
    bytes: 0,
    changed: 0,
    run(from, to) {
      const started = performance.now();
      for (let tick = from; tick < to; tick++) {
        const t = T0 + (tick + 1) * 50;
        const who = w.who[tick]!;
        const xz = w.xz[tick]!;
        for (let k = 0; k < who.length; k++) c.move(w.ids[who[k]!]!, t, 'r1', xz[k * 2]!, 64, xz[k * 2 + 1]!);
        events.length = 0;
        c.flush(events);
        r.changed += events.length;
        for (let s = 0; s < events.length; s += DEFAULT_BATCH_MAX_EVENTS) {
          const ev = events.slice(s, s + DEFAULT_BATCH_MAX_EVENTS);
          r.bytes += (viaMsgpackr ? encode({ op: Op.Batch, seq: ++seq, wm: t, ev }) : encodeBatch(++seq, t, ev)).length;
        }
      }
      return performance.now() - started;
    },
  };
  return r;
}

/**
 * NOT on the wire today: the encoding a protocol change could give deltas (see the closing
 * note of issue 3). One `moves` event per batch instead of one map per delta:
 *   {k: 'moves', t: <earliest t>, q: <quantum>, d: <bin>}
 * with, per changed player, in `d`: varint(zigzag(i - previous i)), a field mask byte,
 * varint(t - base t), then per changed coordinate varint(zigzag(quantized value)) — absolute
 * values in quanta, so a block decodes on its own (resends and merges stay stateless).
 * Regions would follow the mask as a length-prefixed string; none change in this workload.
 */
function proposedBytes(events: WireEvent[], quantum: number): number {
  let n = 0;
  let base = Infinity;
  for (const e of events) if (e.t < base) base = e.t;
  let prevI = 0;
  const varint = (v: number) => {
    let len = 1;
    while (v >= 0x80) {
      v = Math.floor(v / 0x80);
      len++;
    }
    return len;
  };
  const zz = (v: number) => (v >= 0 ? v * 2 : -v * 2 - 1);
  for (const e of events) {
    if (e.k !== 'delta') continue;
    n += varint(zz(e.i - prevI)) + 1 + varint(e.t - base);
    prevI = e.i;
    for (const v of [e.x, e.y, e.z]) if (v !== undefined) n += varint(zz(Math.round(v / quantum)));
  }
  // the event's map: k, t, q, d (bin32 header), as msgpack
  return n + 3 + 2 + 6 + 2 + 9 + 2 + 9 + 2 + 5;
}

function* chunks(events: WireEvent[]): Generator<WireEvent[]> {
  for (let s = 0; s < events.length; s += DEFAULT_BATCH_MAX_EVENTS) yield events.slice(s, s + DEFAULT_BATCH_MAX_EVENTS);
}

/** The proposed encoding's bytes for the whole workload (same deltas as `cairn`). */
function proposedBytesOf(w: Workload): number {
  const c = new Coalescer();
  for (let i = 0; i < PLAYERS; i++) {
    c.join(w.ids[i]!, T0);
    c.move(w.ids[i]!, T0, 'r1', w.start[i * 3]!, w.start[i * 3 + 1]!, w.start[i * 3 + 2]!);
  }
  c.flush();
  let bytes = 0;
  for (let tick = 0; tick < TICKS; tick++) {
    const t = T0 + (tick + 1) * 50;
    const who = w.who[tick]!;
    const xz = w.xz[tick]!;
    for (let k = 0; k < who.length; k++) c.move(w.ids[who[k]!]!, t, 'r1', xz[k * 2]!, 64, xz[k * 2 + 1]!);
    const events: WireEvent[] = c.flush();
    for (let s = 0; s < events.length; s += DEFAULT_BATCH_MAX_EVENTS) {
      // the batch around it: {op, seq, wm, ev: [moves]}
      bytes += 3 + 3 + 1 + 4 + 5 + 3 + 9 + 3 + 1 + proposedBytes(events.slice(s, s + DEFAULT_BATCH_MAX_EVENTS), c.quantum);
    }
  }
  return bytes;
}

function colyseus(w: Workload, type: 'number' | 'float32'): Runner {
  const num = () => (type === 'number' ? t.number() : t.float32());
  const Player = schema({ x: num(), y: num(), z: num() }, `Player_${type}`);
  const State = schema({ players: t.map(Player) }, `State_${type}`);
  type P = InstanceType<typeof Player> & { x: number; y: number; z: number };
  Encoder.BUFFER_SIZE = 2 * 1024 * 1024;
  const state = new State() as InstanceType<typeof State> & { players: MapSchema<P> };
  const players: P[] = [];
  for (let i = 0; i < PLAYERS; i++) {
    const p = new Player() as P;
    p.x = w.start[i * 3]!;
    p.y = w.start[i * 3 + 1]!;
    p.z = w.start[i * 3 + 2]!;
    state.players.set(w.ids[i]!, p);
    players.push(p);
  }
  const encoder = new Encoder(state);
  encoder.encodeAll();
  encoder.discardChanges();
  const r: Runner = {
    bytes: 0,
    changed: 0,
    run(from, to) {
      const started = performance.now();
      for (let tick = from; tick < to; tick++) {
        const who = w.who[tick]!;
        const xz = w.xz[tick]!;
        for (let k = 0; k < who.length; k++) {
          const p = players[who[k]!]!;
          p.x = xz[k * 2]!;
          p.z = xz[k * 2 + 1]!;
        }
        r.changed += who.length;
        r.bytes += encoder.encode().length;
        encoder.discardChanges();
      }
      return performance.now() - started;
    },
  };
  return r;
}

/** Runs every runner over the whole workload in interleaved segments; returns each one's median µs per tick. */
function interleaved(runners: Runner[], segment: number): number[] {
  const perTick: number[][] = runners.map(() => []);
  for (let from = 0; from < TICKS; from += segment) {
    const to = Math.min(TICKS, from + segment);
    // Alternate who goes first, so neither always meets the other's garbage.
    const order = runners.map((_, k) => k);
    if ((from / segment) % 2 === 1) order.reverse();
    for (const k of order) perTick[k]!.push((runners[k]!.run(from, to) * 1000) / (to - from));
  }
  return perTick.map((xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
}

export async function run(): Promise<BenchResult> {
  const w = workload();
  // Warm-up (JIT) of every path on the whole workload, then the measured run.
  interleaved([cairn(w), cairn(w, true), colyseus(w, 'number'), colyseus(w, 'float32')], 120);
  const runners = [cairn(w), cairn(w, true), colyseus(w, 'number'), colyseus(w, 'float32')];
  const [tc, tcm, ty, ty32] = interleaved(runners, 60) as [number, number, number, number];
  const [c, cm, y, y32] = runners as [Runner, Runner, Runner, Runner];
  const per = (r: Runner) => r.bytes / r.changed;
  console.log(`${fmt(PLAYERS)} players, ${CHANGING * 100}% moving per tick, ${TICKS} ticks (20 Hz for 60 s); times are medians over interleaved segments of 60 ticks`);
  console.log(`  Cairn coalescer + batch encoder:    ${fmt(per(c), 1)} B per changed player (${fmt(c.changed)} deltas), ${fmt(tc, 0)} µs per tick`);
  console.log(`  (the same through msgpackr encode:  ${fmt(per(cm), 1)} B per changed player, ${fmt(tcm, 0)} µs per tick)`);
  console.log(`  Colyseus schema, number (baseline): ${fmt(per(y), 1)} B per changed player, ${fmt(ty, 0)} µs per tick`);
  console.log(`  Colyseus schema, float32:           ${fmt(per(y32), 1)} B per changed player, ${fmt(ty32, 0)} µs per tick`);
  const proposedPer = proposedBytesOf(w) / c.changed;
  console.log(`  not on the wire, a proposed protocol change (one binary 'moves' event per batch, varints in quanta): ${fmt(proposedPer, 1)} B per changed player = ${fmt(proposedPer / per(y), 2)}x Colyseus`);
  const bytesRatio = per(c) / per(y);
  const timeRatio = tc / ty;
  console.log(`  Cairn / Colyseus: bytes ${fmt(bytesRatio, 2)}x (goal <= 0.7: ${bytesRatio <= 0.7 ? 'met' : 'missed'}), time ${fmt(timeRatio, 2)}x (goal <= 1: ${timeRatio <= 1 ? 'met' : 'missed'})`);
  return {
    bytesRatio: +bytesRatio.toFixed(3),
    timeRatio: +timeRatio.toFixed(3),
    cairnBytesPerChanged: +per(c).toFixed(2),
    proposedBytesPerChanged: +proposedPer.toFixed(2),
    colyseusBytesPerChanged: +per(y).toFixed(2),
    colyseusFloat32BytesPerChanged: +per(y32).toFixed(2),
    cairnUsPerTick: Math.round(tc),
    cairnMsgpackrUsPerTick: Math.round(tcm),
    colyseusUsPerTick: Math.round(ty),
  };
}
