/**
 * The scalar readers of the gateway's batch-frame fast path (batch-frame.ts,
 * batch-event-check.ts): msgpack numbers and UTF-8 strings read where they lie in a frame,
 * each setting `cur.rp` to the position after the value, as msgpackr would decode them; anything
 * they do not read (float32, 64-bit integers, long strings) makes the fast path leave the
 * frame to decodePluginMessage.
 */
import { isUtf8 } from 'node:buffer';
import { u16, u32 } from './msgpack-scan.js';

// Read state (module-level: reading is synchronous and never re-entered): `cur` is shared
// with the files that call these readers; only this file writes it.
let dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(8));
export const cur = {
  /** Position after the value just read (NaN after a number that could not be read). */
  rp: 0,
  /** Start of the string just read. */
  rs: 0,
};

/** Sets the bytes the readers below read (the frame numberAt reads float64s from). */
export function readFrom(bytes: Uint8Array): void {
  dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The number at `p` as msgpackr decodes it, setting rp; NaN (and rp NaN) when it is not a
 * number within `len`, and for float32 and 64-bit integers (the plugin writes neither;
 * decodePluginMessage decides).
 */
export function numberAt(b: Uint8Array, p: number, len: number): number {
  const x = b[p]!;
  if (x <= 0x7f || x >= 0xe0) {
    cur.rp = p + 1;
    return x <= 0x7f ? x : x - 0x100;
  }
  const size = NUMBER_BYTES[x - 0xc0] ?? 0;
  if (size === 0 || p + size > len) {
    cur.rp = NaN;
    return NaN;
  }
  cur.rp = p + size;
  switch (x) {
    case 0xcb:
      return dv.getFloat64(p + 1);
    case 0xcc:
      return b[p + 1]!;
    case 0xcd:
      return u16(b, p + 1);
    case 0xce:
      return u32(b, p + 1);
    case 0xd0:
      return (b[p + 1]! << 24) >> 24;
    case 0xd1:
      return (u16(b, p + 1) << 16) >> 16;
    default: // 0xd2
      return (b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!;
  }
}

/** True when the value at `p` is a number numberAt reads and it is finite (setting rp); a float64 by its exponent bits alone. */
export function finiteAt(b: Uint8Array, p: number, len: number): boolean {
  if (b[p] !== 0xcb) return Number.isFinite(numberAt(b, p, len));
  if (p + 9 > len) {
    cur.rp = NaN;
    return false;
  }
  cur.rp = p + 9;
  // Infinity and NaN: all 11 exponent bits set.
  return (b[p + 1]! & 0x7f) !== 0x7f || (b[p + 2]! & 0xf0) !== 0xf0;
}

/** Bytes of the number types numberAt reads, by type byte - 0xc0 (0: not read). */
const NUMBER_BYTES: readonly number[] = (() => {
  const t = new Array<number>(0x20).fill(0);
  t[0x0b] = 9; // cb float64
  t[0x0c] = 2; // cc uint8
  t[0x0d] = 3; // cd uint16
  t[0x0e] = 5; // ce uint32
  t[0x10] = 2; // d0 int8
  t[0x11] = 3; // d1 int16
  t[0x12] = 5; // d2 int32
  return t;
})();

/**
 * Byte length of the UTF-8 string at `p` (its content from rs to rp), or -1 when the value
 * is not a string, runs past `len` or is not UTF-8.
 */
export function stringAt(b: Uint8Array, p: number, len: number): number {
  const x = b[p]!;
  let n: number;
  if (x >= 0xa0 && x <= 0xbf) {
    n = x & 0x1f;
    cur.rs = p + 1;
  } else if (x === 0xd9 && p + 2 <= len) {
    n = b[p + 1]!;
    cur.rs = p + 2;
  } else if (x === 0xda && p + 3 <= len) {
    n = u16(b, p + 1);
    cur.rs = p + 3;
  } else return -1;
  cur.rp = cur.rs + n;
  if (cur.rp > len) return -1;
  for (let q = cur.rs; q < cur.rp; q++) {
    if (b[q]! >= 0x80) return isUtf8(b.subarray(q, cur.rp)) ? n : -1;
  }
  return n;
}

/**
 * codec.ts isStr (1 to 256 UTF-16 units) for the string at `p`: a valid UTF-8 string of
 * 1 to 256 bytes has 1 to 256 units; a longer one is left to the decoder.
 */
export function strOk(b: Uint8Array, p: number, len: number): boolean {
  const n = stringAt(b, p, len);
  return n >= 1 && n <= 256;
}

/** HUNT_ID_RE (protocol/limits.ts: 1 to 64 of A-Z a-z 0-9 _ -) on the string at `p`. */
export function huntOk(b: Uint8Array, p: number, len: number): boolean {
  const n = stringAt(b, p, len);
  if (n < 1 || n > 64) return false;
  for (let q = cur.rs; q < cur.rp; q++) {
    const c = b[q]!;
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d)) return false;
  }
  return true;
}
