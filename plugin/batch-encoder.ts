/**
 * Encodes Batch frames ({op, seq, wm, ev, mv}) with the bytes protocol/codec's `encode`
 * (msgpackr) gives them: the discrete events go through `encode` one by one into `ev`, the
 * deltas into one moves block `mv` (protocol/moves.ts), written after them. The frame is
 * assembled in a reused buffer instead of through msgpackr's generic object walk.
 *
 * Why the bytes are the same: for our Packr options (no records, no float32) msgpackr writes
 * every plain object as a map16 (0xde + count, keys in insertion order), every key as the
 * smallest str header for its UTF-8 length, integers of 32 bits or less in the smallest int
 * form (fixint up to 0x7f), every other number as a float64, and a Buffer as the smallest
 * bin header. test/plugin/batch-encoder.test.ts checks the bytes against `encode`.
 */
import { DEFAULT_QUANTUM, encode, encodeMoves, Op, type DeltaEvent, type WireEvent } from '../protocol/index.js';

let buf = Buffer.allocUnsafe(64 * 1024);
let view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
let pos = 0;

/** msgpackr's bytes for a string (a value of its own encodes as it does inside a map). */
const str = (s: string) => Buffer.from(encode(s as unknown as object));
const KEY = str;
const K_OP = KEY('op');
const K_SEQ = KEY('seq');
const K_WM = KEY('wm');
const K_EV = KEY('ev');
const K_MV = KEY('mv');

function room(n: number): void {
  if (pos + n <= buf.length) return;
  const next = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + n));
  buf.copy(next, 0, 0, pos);
  buf = next;
  view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function bytes(b: Uint8Array): void {
  const n = b.length;
  room(n);
  // Keys and short strings: a loop beats the call into TypedArray.set.
  if (n <= 16) for (let k = 0; k < n; k++) buf[pos + k] = b[k]!;
  else buf.set(b, pos);
  pos += n;
}

/** A number exactly as msgpackr writes it (see the module comment). */
function num(v: number): void {
  room(9);
  if (v >>> 0 === v) {
    if (v < 0x80) buf[pos++] = v;
    else if (v < 0x100) {
      buf[pos++] = 0xcc;
      buf[pos++] = v;
    } else if (v < 0x10000) {
      buf[pos++] = 0xcd;
      buf[pos++] = v >> 8;
      buf[pos++] = v & 0xff;
    } else {
      buf[pos++] = 0xce;
      view.setUint32(pos, v);
      pos += 4;
    }
  } else if (v >> 0 === v) {
    if (v >= -0x20) buf[pos++] = 0x100 + v;
    else if (v >= -0x80) {
      buf[pos++] = 0xd0;
      buf[pos++] = v + 0x100;
    } else if (v >= -0x8000) {
      buf[pos++] = 0xd1;
      view.setInt16(pos, v);
      pos += 2;
    } else {
      buf[pos++] = 0xd2;
      view.setInt32(pos, v);
      pos += 4;
    }
  } else {
    buf[pos++] = 0xcb;
    view.setFloat64(pos, v);
    pos += 8;
  }
}

function map16(n: number): void {
  room(3);
  buf[pos++] = 0xde;
  buf[pos++] = n >> 8;
  buf[pos++] = n & 0xff;
}

function arrayHeader(n: number): void {
  room(5);
  if (n < 0x10) buf[pos++] = 0x90 | n;
  else if (n < 0x10000) {
    buf[pos++] = 0xdc;
    buf[pos++] = n >> 8;
    buf[pos++] = n & 0xff;
  } else {
    buf[pos++] = 0xdd;
    view.setUint32(pos, n);
    pos += 4;
  }
}

function binHeader(n: number): void {
  room(5);
  if (n < 0x100) {
    buf[pos++] = 0xc4;
    buf[pos++] = n;
  } else if (n < 0x10000) {
    buf[pos++] = 0xc5;
    buf[pos++] = n >> 8;
    buf[pos++] = n & 0xff;
  } else {
    buf[pos++] = 0xc6;
    view.setUint32(pos, n);
    pos += 4;
  }
}

const deltas: DeltaEvent[] = [];

/**
 * The Batch message's bytes, the same as `encode({ op: Op.Batch, seq, wm, ev, mv })` with
 * `ev` the discrete events of `events` in order and `mv` the moves block of its deltas
 * (absent when there are none). `quantum`: the coalescer's grid, carried in the block.
 */
export function encodeBatch(seq: number, wm: number, events: readonly WireEvent[], quantum = DEFAULT_QUANTUM): Buffer {
  deltas.length = 0;
  for (let k = 0; k < events.length; k++) {
    const e = events[k]!;
    if (e.k === 'delta') deltas.push(e);
  }
  const discrete = events.length - deltas.length;
  pos = 0;
  map16(deltas.length ? 5 : 4);
  bytes(K_OP);
  num(Op.Batch);
  bytes(K_SEQ);
  num(seq);
  bytes(K_WM);
  num(wm);
  bytes(K_EV);
  arrayHeader(discrete);
  for (let k = 0; k < events.length; k++) {
    const e = events[k]!;
    if (e.k !== 'delta') bytes(encode(e));
  }
  if (deltas.length) {
    const block = encodeMoves(deltas, quantum);
    deltas.length = 0;
    bytes(K_MV);
    binHeader(block.length);
    bytes(block);
  }
  return take(pos);
}

/**
 * Frames are cut from 1 MiB slabs, one after another, as msgpackr does with its own buffer:
 * one allocation per MiB of frames instead of one per frame (off-heap allocations per frame
 * make V8 collect more often, and a collection inside a flush slice is a long pause).
 * A slab lives until the last frame cut from it is released (acked).
 */
const SLAB_BYTES = 1 << 20;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabPos = 0;

function take(n: number): Buffer {
  if (n > SLAB_BYTES / 4) {
    const out = Buffer.allocUnsafeSlow(n);
    buf.copy(out, 0, 0, n);
    return out;
  }
  if (slabPos + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabPos = 0;
  }
  const out = slab.subarray(slabPos, slabPos + n);
  buf.copy(out, 0, 0, n);
  // 8-byte aligned starts, as msgpackr does
  slabPos = (slabPos + n + 7) & ~7;
  return out;
}
