/**
 * Checking a moves block (protocol/moves.ts has the format). The gateway validates every
 * block it receives, so acceptance runs in one tight loop: one-byte varints inline, no
 * closures, no allocation, and x, y and z each written out (a shared helper measured
 * slower on this path). It accepts exactly what the decoder accepts
 * (test/protocol/moves.test.ts compares the two on mutated blocks); on any doubt it answers
 * false, and movesProblem lets the decoder name what is wrong.
 */
import { isUtf8 } from 'node:buffer';
import { assertMovesFormat, HEADER_BYTES, KNOWN_FIELDS, MAX_QUANTA, MAX_QUANTUM, MAX_REGION_BYTES, MoveField, MOVES_FORMAT, MovesFormatError } from './moves.js';


/** Cursor of multi-byte varints in the fast check (module-level: the check is synchronous and never re-entered). */
let fp = 0;

/** Canonical unsigned LEB128 at `fp` (at most 8 bytes, a safe integer), advancing fp; -1 when the decoder would refuse it. */
function fastVarint(b: Uint8Array, len: number): number {
  let p = fp;
  if (p >= len) return -1;
  let byte = b[p++]!;
  if (byte < 0x80) {
    fp = p;
    return byte;
  }
  let v = byte & 0x7f;
  let scale = 0x80;
  for (let n = 1; n < 8; n++) {
    if (p >= len) return -1;
    byte = b[p++]!;
    v += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (byte === 0 || v > Number.MAX_SAFE_INTEGER) return -1;
      fp = p;
      return v;
    }
    scale *= 0x80;
  }
  return -1;
}

/** True when the block follows the format (the decoder accepts it); movesProblem says what is wrong otherwise. */
export function movesValid(b: Uint8Array): boolean {
  const len = b.length;
  if (len < HEADER_BYTES || b[0] !== MOVES_FORMAT) return false;
  const quantum = new DataView(b.buffer, b.byteOffset + 1, 8).getFloat64(0);
  if (!(quantum > 0) || !(quantum <= MAX_QUANTUM)) return false;
  fp = HEADER_BYTES;
  const t0 = fastVarint(b, len);
  if (t0 < 0) return false;
  const count = fastVarint(b, len);
  if (count < 0 || count > (len - fp) / 2) return false;
  // Each varint below: one byte inline (most are), longer ones through fastVarint.
  let p = fp;
  let v = 0;
  let i = 0;
  let px = 0;
  let py = 0;
  let pz = 0;
  for (let k = 0; k < count; k++) {
    if (p < len && (v = b[p]!) < 0x80) p++;
    else if (((fp = p), (v = fastVarint(b, len))) < 0) return false;
    else p = fp;
    i += v;
    if (i > Number.MAX_SAFE_INTEGER || p >= len) return false;
    const mask = b[p++]!;
    if (mask & ~KNOWN_FIELDS) return false;
    if (mask & MoveField.Time) {
      if (p < len && (v = b[p]!) < 0x80) p++;
      else if (((fp = p), (v = fastVarint(b, len))) < 0) return false;
      else p = fp;
      if (v === 0 || t0 + v > Number.MAX_SAFE_INTEGER) return false;
    }
    if (mask & MoveField.Region) {
      if (p < len && (v = b[p]!) < 0x80) p++;
      else if (((fp = p), (v = fastVarint(b, len))) < 0) return false;
      else p = fp;
      if (v < 1 || v > MAX_REGION_BYTES || p + v > len) return false;
      const end = p + v;
      for (let q = p; q < end; q++) {
        if (b[q]! >= 0x80) {
          if (!isUtf8(b.subarray(q, end))) return false;
          break;
        }
      }
      p = end;
    }
    // x, y, z: zigzag (even v is v / 2, odd v is -(v + 1) / 2) from the previous entry's
    if (mask & MoveField.X) {
      if (p < len && (v = b[p]!) < 0x80) p++;
      else if (((fp = p), (v = fastVarint(b, len))) < 0) return false;
      else p = fp;
      px += v % 2 === 0 ? v / 2 : -(v + 1) / 2;
      if (!(Math.abs(px) <= MAX_QUANTA)) return false;
    }
    if (mask & MoveField.Y) {
      if (p < len && (v = b[p]!) < 0x80) p++;
      else if (((fp = p), (v = fastVarint(b, len))) < 0) return false;
      else p = fp;
      py += v % 2 === 0 ? v / 2 : -(v + 1) / 2;
      if (!(Math.abs(py) <= MAX_QUANTA)) return false;
    }
    if (mask & MoveField.Z) {
      if (p < len && (v = b[p]!) < 0x80) p++;
      else if (((fp = p), (v = fastVarint(b, len))) < 0) return false;
      else p = fp;
      pz += v % 2 === 0 ? v / 2 : -(v + 1) / 2;
      if (!(Math.abs(pz) <= MAX_QUANTA)) return false;
    }
  }
  return p === len;
}

/** What is wrong with a moves block, or undefined when it follows the format. */
export function movesProblem(bytes: Uint8Array): string | undefined {
  if (movesValid(bytes)) return undefined;
  try {
    assertMovesFormat(bytes);
    return undefined;
  } catch (err) {
    if (err instanceof MovesFormatError) return err.message;
    throw err;
  }
}
