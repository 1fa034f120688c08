/**
 * The moves block (protocol 2): every coalesced delta of a batch in one binary value,
 * instead of one msgpack map per delta. Layout, error bounds and a byte-level example
 * are in protocol/SPEC.md ("The moves block"); test/protocol/moves.test.ts pins them.
 *
 * A block decodes on its own: each coordinate is relative to the same coordinate of the
 * previous entry IN THE BLOCK (zigzag varints of quanta), never to state held by the
 * reader. Batches are resent, spilled, merged under backpressure and read back from
 * Kinesis by consumers that may start anywhere in the stream; none of them needs the
 * blocks before this one. The price, against values relative to each player's last sent
 * state, is about 2 bytes per coordinate on a map of scattered players (the benchmark
 * coalescing-vs-colyseus prints both).
 *
 * Pure: no I/O. The gateway's fast check, and the message naming what is wrong with a
 * block, are in moves-check.ts.
 */
import { isUtf8 } from 'node:buffer';
import type { DeltaEvent, WireEvent } from './events.js';
import type { Batch } from './messages.js';

/** Format byte of the block's first byte. */
export const MOVES_FORMAT = 1;
/** Position grid in blocks; a plugin setting (coalescer.quantum), carried in every block. */
export const DEFAULT_QUANTUM = 0.05;
/** Largest quantum a block may carry: beyond it a position would be meaningless. */
export const MAX_QUANTUM = 1_000_000;
/** Largest |position| in quanta: zigzag of a difference of two stays under 2^53. */
export const MAX_QUANTA = 2 ** 50;
/** Region names in a block: 1 to 256 bytes of UTF-8 (as discrete events' strings). */
export const MAX_REGION_BYTES = 256;

export const MoveField = { Region: 1, X: 2, Y: 4, Z: 8, Time: 16 } as const;
/** Field-mask bits a block may use. */
export const KNOWN_FIELDS = 0x1f;
/** Bytes before the first varint: format, quantum. */
export const HEADER_BYTES = 1 + 8;

/** A moves block that does not follow the format; the message names what and at which byte. */
export class MovesFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MovesFormatError';
  }
}

export interface DecodedMoves {
  quantum: number;
  /** earliest entry time (whole ms since the Unix epoch) */
  t0: number;
  /** one delta per entry, in block order (by session index) */
  deltas: DeltaEvent[];
}

/** 1/quantum when that is a whole number (0.05 -> 20): dividing gives clean decimals (12.35, not 12.350000000000001). */
export function inverseQuantum(quantum: number): number {
  const inv = 1 / quantum;
  return Math.abs(Math.round(inv) - inv) < 1e-9 ? Math.round(inv) : 0;
}

export function checkQuantum(quantum: number): number {
  if (!(quantum > 0) || !(quantum <= MAX_QUANTUM)) throw new RangeError(`quantum must be a number above 0 and at most ${MAX_QUANTUM}, got ${quantum}`);
  return quantum;
}

// ---------------------------------------------------------------------------------------
// Encoder: one reused buffer, grown on demand.

let out = Buffer.allocUnsafe(16 * 1024);
let at = 0;

function room(n: number): void {
  if (at + n <= out.length) return;
  const next = Buffer.allocUnsafe(Math.max(out.length * 2, at + n));
  out.copy(next, 0, 0, at);
  out = next;
}

/** Unsigned LEB128 of a safe integer (arithmetic, not bit operators: values go past 2^31). */
function varint(v: number): void {
  room(8);
  if (v < 0x80) {
    out[at++] = v;
    return;
  }
  if (v < 0x80000000) {
    while (v >= 0x80) {
      out[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[at++] = v;
    return;
  }
  while (v >= 0x80) {
    out[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[at++] = v;
}

const zigzag = (v: number): number => (v >= 0 ? v * 2 : -v * 2 - 1);
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

/**
 * The block for `deltas` (positions in blocks on the `quantum` grid, as the coalescer
 * emits them). Entries are written in session-index order (a stable sort: a player twice
 * keeps its order). Times are whole ms (a fractional time is floored). Throws a RangeError
 * for a value no block can carry (a position beyond MAX_QUANTA quanta, a region of more
 * than 256 bytes, an index or time that is not a non-negative safe integer).
 */
export function encodeMoves(deltas: readonly DeltaEvent[], quantum: number = DEFAULT_QUANTUM): Buffer {
  checkQuantum(quantum);
  const inv = inverseQuantum(quantum);
  const q = (v: number, what: string): number => {
    const n = (inv !== 0 ? Math.round(v * inv) : Math.round(v / quantum)) + 0;
    if (!(Math.abs(n) <= MAX_QUANTA)) throw new RangeError(`moves: ${what}=${v} is beyond ${MAX_QUANTA} quanta of ${quantum}`);
    return n;
  };
  const sorted = isSorted(deltas) ? deltas : byIndex(deltas);
  let t0 = Infinity;
  for (const d of sorted) if (d.t < t0) t0 = d.t;
  t0 = sorted.length ? Math.floor(t0) : 0;
  if (!Number.isSafeInteger(t0) || t0 < 0) throw new RangeError(`moves: time ${t0} is not a non-negative whole number of ms`);

  at = 0;
  room(HEADER_BYTES);
  out[at++] = MOVES_FORMAT;
  out.writeDoubleBE(quantum, at);
  at += 8;
  varint(t0);
  varint(sorted.length);
  let prevI = 0;
  let px = 0;
  let py = 0;
  let pz = 0;
  for (const d of sorted) {
    if (!Number.isSafeInteger(d.i) || d.i < prevI) throw new RangeError(`moves: session index ${d.i} is not a non-negative integer`);
    const dt = Math.floor(d.t) - t0;
    if (!Number.isSafeInteger(dt)) throw new RangeError(`moves: time ${d.t} is not a number of ms`);
    const mask =
      (d.region !== undefined ? MoveField.Region : 0) |
      (d.x !== undefined ? MoveField.X : 0) |
      (d.y !== undefined ? MoveField.Y : 0) |
      (d.z !== undefined ? MoveField.Z : 0) |
      (dt !== 0 ? MoveField.Time : 0);
    varint(d.i - prevI);
    prevI = d.i;
    room(1);
    out[at++] = mask;
    if (dt !== 0) varint(dt);
    if (d.region !== undefined) {
      const n = Buffer.byteLength(d.region);
      if (n < 1 || n > MAX_REGION_BYTES) throw new RangeError(`moves: region of ${n} bytes (1 to ${MAX_REGION_BYTES})`);
      varint(n);
      room(n);
      at += out.write(d.region, at);
    }
    if (d.x !== undefined) {
      const v = q(d.x, 'x');
      varint(zigzag(v - px));
      px = v;
    }
    if (d.y !== undefined) {
      const v = q(d.y, 'y');
      varint(zigzag(v - py));
      py = v;
    }
    if (d.z !== undefined) {
      const v = q(d.z, 'z');
      varint(zigzag(v - pz));
      pz = v;
    }
  }
  return Buffer.from(out.subarray(0, at));
}

/** A stable sort by session index: a native numeric sort of (index, position) keys when they fit. */
function byIndex(deltas: readonly DeltaEvent[]): readonly DeltaEvent[] {
  const n = deltas.length;
  let max = 0;
  for (let k = 0; k < n; k++) max = Math.max(max, deltas[k]!.i);
  if (!(max * n < 2 ** 52) || !deltas.every((d) => Number.isSafeInteger(d.i) && d.i >= 0)) return [...deltas].sort((a, b) => a.i - b.i);
  const keys = new Float64Array(n);
  for (let k = 0; k < n; k++) keys[k] = deltas[k]!.i * n + k;
  keys.sort();
  const out = new Array<DeltaEvent>(n);
  for (let k = 0; k < n; k++) out[k] = deltas[keys[k]! % n]!;
  return out;
}

function isSorted(deltas: readonly DeltaEvent[]): boolean {
  for (let k = 1; k < deltas.length; k++) if (deltas[k]!.i < deltas[k - 1]!.i) return false;
  return true;
}

// ---------------------------------------------------------------------------------------
// Walker: validation (no output) and decoding share it, so what the gateway validates is
// what a consumer decodes.

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}

  fail(what: string): never {
    throw new MovesFormatError(`moves block byte ${this.pos}: ${what}`);
  }

  /** Canonical unsigned LEB128, at most 8 bytes, a safe integer. */
  varint(what: string): number {
    const b = this.b;
    let v = 0;
    let scale = 1;
    for (let n = 0; n < 8; n++) {
      if (this.pos >= b.length) this.fail(`truncated ${what}`);
      const byte = b[this.pos++]!;
      v += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && n > 0) this.fail(`${what}: overlong varint`);
        if (!Number.isSafeInteger(v)) this.fail(`${what}: beyond 2^53`);
        return v;
      }
      scale *= 0x80;
    }
    return this.fail(`${what}: varint longer than 8 bytes`);
  }
}

function walk(bytes: Uint8Array, deltas: DeltaEvent[] | undefined): DecodedMoves {
  const r = new Reader(bytes);
  if (bytes.length < HEADER_BYTES) r.fail('shorter than its 9-byte header');
  if (bytes[0] !== MOVES_FORMAT) r.fail(`format ${bytes[0]} is not ${MOVES_FORMAT}`);
  const quantum = new DataView(bytes.buffer, bytes.byteOffset + 1, 8).getFloat64(0);
  r.pos = HEADER_BYTES;
  if (!(quantum > 0) || !(quantum <= MAX_QUANTUM)) r.fail(`quantum ${quantum} is not above 0 and at most ${MAX_QUANTUM}`);
  const inv = inverseQuantum(quantum);
  const t0 = r.varint('t0');
  const count = r.varint('entry count');
  // Every entry takes at least 2 bytes: a count beyond that is a lie.
  if (count > (bytes.length - r.pos) / 2) r.fail(`entry count ${count} does not fit the block`);
  let i = 0;
  let px = 0;
  let py = 0;
  let pz = 0;
  const coord = (prev: number, what: string): number => {
    const v = prev + unzigzag(r.varint(what));
    if (!(Math.abs(v) <= MAX_QUANTA)) r.fail(`${what} beyond ${MAX_QUANTA} quanta`);
    return v;
  };
  for (let k = 0; k < count; k++) {
    i += r.varint('index gap');
    if (!Number.isSafeInteger(i)) r.fail('session index beyond 2^53');
    if (r.pos >= bytes.length) r.fail('truncated field mask');
    const mask = bytes[r.pos++]!;
    if (mask & ~KNOWN_FIELDS) r.fail(`field mask 0x${mask.toString(16)} has unknown bits`);
    let t = t0;
    if (mask & MoveField.Time) {
      const dt = r.varint('time offset');
      if (dt === 0) r.fail('time offset 0 is written by leaving the time bit out');
      t = t0 + dt;
      if (!Number.isSafeInteger(t)) r.fail('time beyond 2^53');
    }
    let region: string | undefined;
    if (mask & MoveField.Region) {
      const n = r.varint('region length');
      if (n < 1 || n > MAX_REGION_BYTES) r.fail(`region of ${n} bytes (1 to ${MAX_REGION_BYTES})`);
      if (r.pos + n > bytes.length) r.fail('truncated region');
      const s = bytes.subarray(r.pos, r.pos + n);
      if (!isUtf8(s)) r.fail('region is not UTF-8');
      if (deltas) region = Buffer.from(s.buffer, s.byteOffset, n).toString('utf8');
      r.pos += n;
    }
    if (mask & MoveField.X) px = coord(px, 'x');
    if (mask & MoveField.Y) py = coord(py, 'y');
    if (mask & MoveField.Z) pz = coord(pz, 'z');
    if (deltas) {
      const d: DeltaEvent = { k: 'delta', t, i };
      if (region !== undefined) d.region = region;
      if (mask & MoveField.X) d.x = inv !== 0 ? px / inv : px * quantum;
      if (mask & MoveField.Y) d.y = inv !== 0 ? py / inv : py * quantum;
      if (mask & MoveField.Z) d.z = inv !== 0 ? pz / inv : pz * quantum;
      deltas.push(d);
    }
  }
  if (r.pos !== bytes.length) r.fail(`${bytes.length - r.pos} trailing bytes after ${count} entries`);
  return { quantum, t0, deltas: deltas ?? [] };
}

/** Throws MovesFormatError naming what is wrong when the block does not follow the format; builds no deltas. */
export function assertMovesFormat(bytes: Uint8Array): void {
  walk(bytes, undefined);
}

/** Decodes a moves block (for consumers of the Kinesis stream); throws MovesFormatError when it does not follow the format. */
export function decodeMoves(bytes: Uint8Array): DecodedMoves {
  return walk(bytes, []);
}

/** A batch's events as the plugin formed them: its discrete events, then its moves block's deltas. */
export function batchEvents(batch: Pick<Batch, 'ev' | 'mv'>): WireEvent[] {
  const out: WireEvent[] = [...batch.ev];
  if (batch.mv) for (const d of decodeMoves(batch.mv).deltas) out.push(d);
  return out;
}
