/**
 * Cairn's coalescer + batch frames against @colyseus/schema on the same workload:
 * 10 k players, 20% of them moving (x and z) each tick, 20 Hz for 60 s of game time.
 *
 * - Cairn: per tick, `Coalescer.move` for every moving player, then a flush and the batch
 *   frames as the outbox encodes them (batches of 500 events; plugin/batch-encoder.ts:
 *   protocol 2, the deltas in one moves block per batch) — the bytes that go on the wire.
 *   msgpackr's own `encode` of the same batches is printed too.
 * - Colyseus, fair (the baseline of `bytesRatio`): a `MapSchema` of players with `x, y, z`
 *   holding the same quantization Cairn uses (integers of 0.05 blocks) in `number` fields
 *   (Colyseus writes small integers in 1-5 bytes); the fields set per tick, then the
 *   Encoder's `encode()` and `discardChanges()`. The same in `int32` fields is printed too.
 * - Colyseus, full precision (`bytesRatioFullPrecision`): `number` fields holding the raw
 *   doubles, as in Colyseus' own examples; and float32 for reference.
 * Every line has the same denominator: players that changed in the tick.
 *
 * Not on the wire: the moves block with values relative to each player's last sent state
 * (a stateful stream; see protocol/moves.ts for why blocks decode on their own instead),
 * printed so the price of self-contained blocks can be read.
 *
 * Keys `bytesRatio` (fair baseline), `bytesRatioFullPrecision` and `timeRatio` are
 * Cairn / Colyseus (goals: bytes <= 0.7 against the fair baseline, time <= 1).
 */
import { Encoder, MapSchema, schema, t } from '@colyseus/schema';
import { encode, encodeMoves, Op, type DeltaEvent, type DiscreteEvent, type WireEvent } from '../protocol/index.js';
import { encodeBatch } from '../plugin/batch-encoder.js';
import { Coalescer } from '../plugin/coalescer.js';
import { DEFAULT_BATCH_MAX_EVENTS } from '../plugin/outbox.js';
import { rng } from '../plugin/hosts/sim-host.js';
import { fmt, type BenchResult } from './run.js';

const PLAYERS = 10_000;
const TICKS = 20 * 60;
const CHANGING = 0.2;
const T0 = 1_795_867_200_000;
const QUANTUM = 0.05;

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

/** The same frame through msgpackr's encode of the message object. */
function viaEncode(seq: number, wm: number, ev: WireEvent[]): Buffer {
  const deltas = ev.filter((e): e is DeltaEvent => e.k === 'delta');
  return encode({ op: Op.Batch, seq, wm, ev: ev.filter((e): e is DiscreteEvent => e.k !== 'delta'), mv: encodeMoves(deltas) });
}

function cairn(w: Workload, viaMsgpackr = false): Runner {
  const c = new Coalescer();
  for (let i = 0; i < PLAYERS; i++) {
    c.join(w.ids[i]!, T0);
    c.move(w.ids[i]!, T0, 'r1', w.start[i * 3]!, w.start[i * 3 + 1]!, w.start[i * 3 + 2]!);
  }
  let seq = 0;
  for (const ev of chunks(c.flush())) encodeBatch(++seq, T0, ev);
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
          r.bytes += (viaMsgpackr ? viaEncode(++seq, t, ev) : encodeBatch(++seq, t, ev)).length;
        }
      }
      return performance.now() - started;
    },
  };
  return r;
}

/**
 * Bytes of the moves blocks if each coordinate were relative to the player's last sent
 * value (the stateful alternative): the same layout, only the value varints change.
 */
function statefulBlockBytes(events: WireEvent[], last: Map<number, [number, number, number]>, quantum: number): number {
  const varint = (v: number) => {
    let len = 1;
    while (v >= 0x80) {
      v = Math.floor(v / 0x80);
      len++;
    }
    return len;
  };
  const zz = (v: number) => (v >= 0 ? v * 2 : -v * 2 - 1);
  const deltas = events.filter((e): e is DeltaEvent => e.k === 'delta').sort((a, b) => a.i - b.i);
  let n = 0;
  let prevI = 0;
  for (const e of deltas) {
    n += varint(e.i - prevI) + 1;
    prevI = e.i;
    const ref = last.get(e.i) ?? [0, 0, 0];
    [e.x, e.y, e.z].forEach((v, k) => {
      if (v === undefined) return;
      const q = Math.round(v / quantum);
      n += varint(zz(q - ref[k]!));
      ref[k] = q;
    });
    last.set(e.i, ref);
  }
  return n;
}

function* chunks(events: WireEvent[]): Generator<WireEvent[]> {
  for (let s = 0; s < events.length; s += DEFAULT_BATCH_MAX_EVENTS) yield events.slice(s, s + DEFAULT_BATCH_MAX_EVENTS);
}

/** Frame bytes of the stateful alternative for the whole workload (same deltas as `cairn`). */
function statefulBytesOf(w: Workload): number {
  const c = new Coalescer();
  for (let i = 0; i < PLAYERS; i++) {
    c.join(w.ids[i]!, T0);
    c.move(w.ids[i]!, T0, 'r1', w.start[i * 3]!, w.start[i * 3 + 1]!, w.start[i * 3 + 2]!);
  }
  const last = new Map<number, [number, number, number]>();
  for (const ev of chunks(c.flush())) statefulBlockBytes(ev, last, c.quantum);
  let bytes = 0;
  let seq = 0;
  for (let tick = 0; tick < TICKS; tick++) {
    const t = T0 + (tick + 1) * 50;
    const who = w.who[tick]!;
    const xz = w.xz[tick]!;
    for (let k = 0; k < who.length; k++) c.move(w.ids[who[k]!]!, t, 'r1', xz[k * 2]!, 64, xz[k * 2 + 1]!);
    for (const ev of chunks(c.flush())) {
      // the frame as today, with the block's value varints replaced
      const frame = encodeBatch(++seq, t, ev);
      const block = encodeMoves(ev as DeltaEvent[]);
      const headerAndIndexes = 1 + 8 + 7 + 2;
      bytes += frame.length - block.length + headerAndIndexes + statefulBlockBytes(ev, last, c.quantum);
    }
  }
  return bytes;
}

type Fields = 'number' | 'float32' | 'int32';

/** Colyseus with `type` fields; `quantum`: positions stored as integers of that grid (the fair baseline). */
function colyseus(w: Workload, type: Fields, quantum?: number): Runner {
  const num = () => (type === 'number' ? t.number() : type === 'int32' ? t.int32() : t.float32());
  const name = `${type}_${quantum ?? 'full'}`.replace('.', '_');
  const Player = schema({ x: num(), y: num(), z: num() }, `Player_${name}`);
  const State = schema({ players: t.map(Player) }, `State_${name}`);
  const q = quantum === undefined ? (v: number) => v : (v: number) => Math.round(v / quantum);
  type P = InstanceType<typeof Player> & { x: number; y: number; z: number };
  Encoder.BUFFER_SIZE = 2 * 1024 * 1024;
  const state = new State() as InstanceType<typeof State> & { players: MapSchema<P> };
  const players: P[] = [];
  for (let i = 0; i < PLAYERS; i++) {
    const p = new Player() as P;
    p.x = q(w.start[i * 3]!);
    p.y = q(w.start[i * 3 + 1]!);
    p.z = q(w.start[i * 3 + 2]!);
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
          p.x = q(xz[k * 2]!);
          p.z = q(xz[k * 2 + 1]!);
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
  const make = () => [cairn(w), cairn(w, true), colyseus(w, 'number', QUANTUM), colyseus(w, 'int32', QUANTUM), colyseus(w, 'number'), colyseus(w, 'float32')];
  // Warm-up (JIT) of every path on the whole workload, then the measured run.
  interleaved(make(), 120);
  const runners = make();
  const [tc, tcm, tq, tq32, ty, ty32] = interleaved(runners, 60) as [number, number, number, number, number, number];
  const [c, cm, q, q32, y, y32] = runners as [Runner, Runner, Runner, Runner, Runner, Runner];
  const per = (r: Runner) => r.bytes / r.changed;
  console.log(`${fmt(PLAYERS)} players, ${CHANGING * 100}% moving per tick, ${TICKS} ticks (20 Hz for 60 s); bytes per changed player; times are medians over interleaved segments of 60 ticks`);
  console.log(`  Cairn coalescer + batch frames (protocol 2):      ${fmt(per(c), 2)} B (${fmt(c.changed)} deltas), ${fmt(tc, 0)} µs per tick`);
  console.log(`  (the same through msgpackr encode:                ${fmt(per(cm), 2)} B, ${fmt(tcm, 0)} µs per tick)`);
  console.log(`  Colyseus, quantized (${QUANTUM}) in number (fair baseline): ${fmt(per(q), 2)} B, ${fmt(tq, 0)} µs per tick`);
  console.log(`  Colyseus, quantized (${QUANTUM}) in int32:              ${fmt(per(q32), 2)} B, ${fmt(tq32, 0)} µs per tick`);
  console.log(`  Colyseus, full precision number:                   ${fmt(per(y), 2)} B, ${fmt(ty, 0)} µs per tick`);
  console.log(`  Colyseus, float32:                                 ${fmt(per(y32), 2)} B, ${fmt(ty32, 0)} µs per tick`);
  const statefulPer = statefulBytesOf(w) / c.changed;
  console.log(`  not on the wire: blocks relative to each player's last sent state: ${fmt(statefulPer, 2)} B = ${fmt(statefulPer / per(q), 2)}x the fair baseline`);
  const bytesRatio = per(c) / per(q);
  const bytesRatioFullPrecision = per(c) / per(y);
  const timeRatio = tc / tq;
  console.log(`  Cairn / Colyseus fair: bytes ${fmt(bytesRatio, 3)}x (goal <= 0.7: ${bytesRatio <= 0.7 ? 'met' : 'missed'}), time ${fmt(timeRatio, 2)}x (goal <= 1: ${timeRatio <= 1 ? 'met' : 'missed'})`);
  console.log(`  Cairn / Colyseus full precision: bytes ${fmt(bytesRatioFullPrecision, 3)}x; / int32 quantized: ${fmt(per(c) / per(q32), 3)}x`);
  return {
    bytesRatio: +bytesRatio.toFixed(3),
    bytesRatioFullPrecision: +bytesRatioFullPrecision.toFixed(3),
    bytesRatioInt32: +(per(c) / per(q32)).toFixed(3),
    timeRatio: +timeRatio.toFixed(3),
    cairnBytesPerChanged: +per(c).toFixed(2),
    statefulBytesPerChanged: +statefulPer.toFixed(2),
    colyseusQuantizedBytesPerChanged: +per(q).toFixed(2),
    colyseusInt32BytesPerChanged: +per(q32).toFixed(2),
    colyseusBytesPerChanged: +per(y).toFixed(2),
    colyseusFloat32BytesPerChanged: +per(y32).toFixed(2),
    cairnUsPerTick: Math.round(tc),
    cairnMsgpackrUsPerTick: Math.round(tcm),
    colyseusUsPerTick: Math.round(tq),
    goalsMissed: (bytesRatio <= 0.7 ? 0 : 1) + (timeRatio <= 1 ? 0 : 1),
  };
}
