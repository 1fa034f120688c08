/**
 * The bytes around a part's events (gateway/batch-records.ts), written straight into the
 * part: the EventRecord envelope `{v, s, e, q, pt, np, wm, ev, mv?}` up to the `ev` array,
 * and the array and bin headers, exactly as protocol/codec.ts `encode` (msgpackr) writes
 * them, so a part still equals `encodeRecord(part)` (test/gateway/batch-records.test.ts
 * compares them over the bounds of every number and string form). Parts come out of
 * shared slabs instead of one allocation each.
 *
 * msgpackr's forms, for our Packr options (plugin/batch-encoder.ts says the same): a plain
 * object is a map16 with its keys in insertion order, a key or an ASCII string the
 * smallest str header for its length, an integer that fits 32 bits the smallest int form
 * (fixint up to 0x7f, negative fixint from -32), any other number a float64.
 */
import { RECORD_FORMAT_VERSION } from '../backend/kinesis/record-format.js';

/** What identifies a batch's parts. */
export interface PartIdentity {
  server: string;
  epoch: number;
  seq: number;
  wm: number;
}

/** Bytes of `v` in msgpackr's form. */
export function numberSize(v: number): number {
  if (v >>> 0 === v) return v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : 5;
  if (v >> 0 === v) return v >= -0x20 ? 1 : v >= -0x80 ? 2 : v >= -0x8000 ? 3 : 5;
  return 9;
}

/** Writes `v` in msgpackr's form at `pos`; returns the position after it. */
export function writeNumber(out: Buffer, pos: number, v: number): number {
  if (v >>> 0 === v) {
    if (v < 0x80) out[pos++] = v;
    else if (v < 0x100) {
      out[pos++] = 0xcc;
      out[pos++] = v;
    } else if (v < 0x10000) {
      out[pos++] = 0xcd;
      out.writeUInt16BE(v, pos);
      pos += 2;
    } else {
      out[pos++] = 0xce;
      out.writeUInt32BE(v, pos);
      pos += 4;
    }
  } else if (v >> 0 === v) {
    if (v >= -0x20) out[pos++] = v & 0xff;
    else if (v >= -0x80) {
      out[pos++] = 0xd0;
      out[pos++] = v & 0xff;
    } else if (v >= -0x8000) {
      out[pos++] = 0xd1;
      out.writeInt16BE(v, pos);
      pos += 2;
    } else {
      out[pos++] = 0xd2;
      out.writeInt32BE(v, pos);
      pos += 4;
    }
  } else {
    out[pos++] = 0xcb;
    out.writeDoubleBE(v, pos);
    pos += 8;
  }
  return pos;
}

/** Bytes of an array header of `n` items. */
export const arrayHeaderSize = (n: number): number => (n < 0x10 ? 1 : n < 0x10000 ? 3 : 5);

export function writeArrayHeader(out: Buffer, pos: number, n: number): number {
  if (n < 0x10) out[pos++] = 0x90 | n;
  else if (n < 0x10000) {
    out[pos++] = 0xdc;
    out.writeUInt16BE(n, pos);
    pos += 2;
  } else {
    out[pos++] = 0xdd;
    out.writeUInt32BE(n, pos);
    pos += 4;
  }
  return pos;
}

/** Bytes of a bin header for `n` bytes. */
export const binHeaderSize = (n: number): number => (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);

export function writeBinHeader(out: Buffer, pos: number, n: number): number {
  if (n < 0x100) {
    out[pos++] = 0xc4;
    out[pos++] = n;
  } else if (n < 0x10000) {
    out[pos++] = 0xc5;
    out.writeUInt16BE(n, pos);
    pos += 2;
  } else {
    out[pos++] = 0xc6;
    out.writeUInt32BE(n, pos);
    pos += 4;
  }
  return pos;
}

/** Bytes of the str header for a string of `n` bytes. */
const strHeaderSize = (n: number): number => (n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);

/** "mv", the moves block's key, after the events. */
export const MV_KEY_BYTES = 3;

const K_V = [0xa1, 0x76];
const K_S = [0xa1, 0x73];
const K_E = [0xa1, 0x65];
const K_Q = [0xa1, 0x71];
const K_PT = [0xa2, 0x70, 0x74];
const K_NP = [0xa2, 0x6e, 0x70];
const K_WM = [0xa2, 0x77, 0x6d];
const K_EV = [0xa2, 0x65, 0x76];
const K_MV = [0xa2, 0x6d, 0x76];

/** Bytes of a part's envelope up to the `ev` array (its key included, its header not). */
export function envelopeSize(id: PartIdentity, pt: number, np: number): number {
  const s = Buffer.byteLength(id.server);
  return 3 + 3 + 2 + strHeaderSize(s) + s + 2 + numberSize(id.epoch) + 2 + numberSize(id.seq) + 3 + numberSize(pt) + 3 + numberSize(np) + 3 + numberSize(id.wm) + 3;
}

function keyBytes(out: Buffer, pos: number, key: readonly number[]): number {
  for (let k = 0; k < key.length; k++) out[pos++] = key[k]!;
  return pos;
}

/** Writes a part's envelope up to the `ev` array (see envelopeSize); `moves`: the map has an `mv` key too. */
export function writeEnvelope(out: Buffer, pos: number, id: PartIdentity, pt: number, np: number, moves: boolean): number {
  out[pos++] = 0xde;
  out[pos++] = 0;
  out[pos++] = moves ? 9 : 8;
  pos = keyBytes(out, pos, K_V);
  out[pos++] = RECORD_FORMAT_VERSION;
  pos = keyBytes(out, pos, K_S);
  const s = Buffer.byteLength(id.server);
  if (s < 0x20) out[pos++] = 0xa0 | s;
  else if (s < 0x100) {
    out[pos++] = 0xd9;
    out[pos++] = s;
  } else if (s < 0x10000) {
    out[pos++] = 0xda;
    out.writeUInt16BE(s, pos);
    pos += 2;
  } else {
    out[pos++] = 0xdb;
    out.writeUInt32BE(s, pos);
    pos += 4;
  }
  pos += out.write(id.server, pos, 'utf8');
  pos = writeNumber(out, keyBytes(out, pos, K_E), id.epoch);
  pos = writeNumber(out, keyBytes(out, pos, K_Q), id.seq);
  pos = writeNumber(out, keyBytes(out, pos, K_PT), pt);
  pos = writeNumber(out, keyBytes(out, pos, K_NP), np);
  pos = writeNumber(out, keyBytes(out, pos, K_WM), id.wm);
  return keyBytes(out, pos, K_EV);
}

/** Writes the `mv` key and the moves block's bin header. */
export function writeMovesHead(out: Buffer, pos: number, n: number): number {
  return writeBinHeader(out, keyBytes(out, pos, K_MV), n);
}

/**
 * Parts are cut out of shared slabs: a part of a few KiB is past Node's own pool (4 KiB),
 * so each would be an allocation of its own, and the garbage collector's work.
 */
const SLAB_BYTES = 256 * 1024;
let slab: Buffer | undefined;
let slabAt = 0;

/** `n` bytes for a part (not zeroed: every byte is written). */
export function allocPart(n: number): Buffer {
  if (n > SLAB_BYTES / 8) return Buffer.allocUnsafe(n);
  if (!slab || slabAt + n > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabAt = 0;
  }
  const out = slab.subarray(slabAt, slabAt + n);
  slabAt = (slabAt + n + 7) & ~7;
  return out;
}
