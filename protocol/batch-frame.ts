/**
 * The gateway's fast path for batch frames: one walk over the frame checks its bytes (what
 * protocol/msgpack-scan.ts checks: lengths within the bytes, strings UTF-8, no key twice,
 * nesting, nothing after the map), locates each event, and checks each discrete event's
 * fields (what codec.ts checkEvent checks) where they lie, with no object built. The
 * gateway forwards those bytes (gateway/batch-records.ts), so nothing needs the events
 * decoded; the live page, which does, decodes them on demand.
 *
 * It accepts a frame only when decodePluginMessage (protocol/codec.ts) accepts it as the
 * same batch: the same seq and watermark, the same events at the same bytes, the same
 * moves block (test/support/frame-fuzz.ts checks this on every fuzzed frame). Anything it
 * is not sure of (another message, a key or an encoding the plugin does not write, and
 * every frame with a problem) it leaves to decodePluginMessage, which accepts it or names
 * what is wrong.
 *
 * Over 300 lines: one walk reads the frame, its events and their fields, and reads best
 * whole, like the scan it stands in for.
 */
import { decodeScanned, batchLayout, type BatchLayout } from './codec.js';
import type { DiscreteEvent } from './events.js';
import { MAX_FRAME_BYTES } from './limits.js';
import { Op, type Batch } from './messages.js';
import { movesValid } from './moves-check.js';
import { isUtf8 } from 'node:buffer';
import { MsgpackScanError, skipValue } from './msgpack-scan.js';

/** A validated batch frame: what the gateway needs to forward it. */
export interface BatchFrame {
  seq: number;
  wm: number;
  /** number of discrete events in `ev` */
  count: number;
  /** where each event and the moves block sit in the frame */
  layout: BatchLayout;
  /** the moves block, when the batch has one */
  mv: Uint8Array | undefined;
  /** The events, decoded (once, on the first call): they were validated already. */
  events(): DiscreteEvent[];
}

/** The BatchFrame of a batch that decodePluginMessage returned (decoded from `frame`). */
export function batchFrameOf(msg: Batch): BatchFrame {
  const layout = batchLayout(msg.ev);
  if (!layout) throw new TypeError('batchFrameOf: the batch was not decoded from a frame');
  return { seq: msg.seq, wm: msg.wm, count: msg.ev.length, layout, mv: msg.mv, events: () => msg.ev };
}

/**
 * The frame as a batch, validated, or undefined when decodePluginMessage must decide
 * (not a batch, not the plugin's usual encoding, or not valid).
 *
 * One walk over the bytes checks what protocol/msgpack-scan.ts would (lengths within the
 * bytes, strings UTF-8, no key twice, nesting, nothing after the map) and what codec.ts
 * checks of a batch and its events, for the keys and encodings a batch has; a key it does
 * not know is left to the decoder.
 */
export function readBatchFrame(bytes: Uint8Array, limit = MAX_FRAME_BYTES): BatchFrame | undefined {
  const len = bytes.length;
  if (len > limit || len < 3) return undefined;
  dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const b = bytes;
  let p: number;
  let n: number;
  if (b[0]! >= 0x80 && b[0]! <= 0x8f) {
    n = b[0]! & 0x0f;
    p = 1;
  } else if (b[0] === 0xde) {
    n = u16(b, 1);
    p = 3;
  } else return undefined;
  let seen = 0;
  let op = NaN;
  let seq = NaN;
  let wm = NaN;
  let at: number[] | undefined;
  let evStart = 0;
  let evEnd = 0;
  let moves: [number, number] | undefined;
  for (let f = 0; f < n; f++) {
    // Keys: "op", "seq", "wm", "ev", "mv" (fixstr); any other goes to the decoder.
    if (p + 3 > len) return undefined;
    const k0 = b[p + 1]!;
    const k1 = b[p + 2]!;
    let key: number;
    if (b[p] === 0xa2) {
      key = k0 === 0x6f && k1 === 0x70 ? 1 : k0 === 0x77 && k1 === 0x6d ? 4 : k0 === 0x65 && k1 === 0x76 ? 8 : k0 === 0x6d && k1 === 0x76 ? 16 : 0;
      p += 3;
    } else if (b[p] === 0xa3 && p + 4 <= len && k0 === 0x73 && k1 === 0x65 && b[p + 3] === 0x71) {
      key = 2;
      p += 4;
    } else return undefined;
    if (key === 0 || seen & key || p >= len) return undefined;
    seen |= key;
    switch (key) {
      case 1:
        op = numberAt(b, p, len);
        break;
      case 2:
        seq = numberAt(b, p, len);
        break;
      case 4:
        wm = numberAt(b, p, len);
        break;
      case 8: {
        evStart = p;
        let count: number;
        const x = b[p]!;
        if (x >= 0x90 && x <= 0x9f) {
          count = x & 0x0f;
          p += 1;
        } else if (x === 0xdc && p + 3 <= len) {
          count = u16(b, p + 1);
          p += 3;
        } else return undefined;
        if (count > len - p) return undefined;
        at = new Array<number>(2 * count);
        for (let j = 0; j < count; j++) {
          at[2 * j] = p;
          p = eventEnd(b, p, len);
          if (p < 0) return undefined;
          at[2 * j + 1] = p;
        }
        rp = evEnd = p;
        break;
      }
      case 16: {
        const x = b[p]!;
        const head = x === 0xc4 ? 2 : x === 0xc5 ? 3 : 0; // bin8, bin16 (a block fits in a frame)
        if (head === 0 || p + head > len) return undefined;
        const size = head === 2 ? b[p + 1]! : u16(b, p + 1);
        const s = p + head;
        if (s + size > len || !movesValid(b.subarray(s, s + size))) return undefined;
        moves = [s, s + size];
        rp = s + size;
        break;
      }
    }
    if (Number.isNaN(rp)) return undefined;
    p = rp;
  }
  if (p !== len || op !== Op.Batch || !Number.isSafeInteger(seq) || seq < 1 || !Number.isFinite(wm) || !at) return undefined;
  let decoded: DiscreteEvent[] | undefined;
  const evBytes = b.subarray(evStart, evEnd);
  return {
    seq,
    wm,
    count: at.length / 2,
    layout: { frame: bytes, at, moves },
    mv: moves ? b.subarray(moves[0], moves[1]) : undefined,
    events: () => (decoded ??= decodeScanned(evBytes) as DiscreteEvent[]),
  };
}

// Read state (module-level: reading is synchronous and never re-entered).
let dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(8));
/** Position after the value just read. */
let rp = 0;
/** Start of the string just read. */
let rs = 0;

const u16 = (b: Uint8Array, p: number) => (b[p]! << 8) | b[p + 1]!;
const u32 = (b: Uint8Array, p: number) => b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);

/**
 * The number at `p` as msgpackr decodes it, setting rp; NaN (and rp NaN) when it is not a
 * number within `len`, and for float32 and 64-bit integers (the plugin writes neither;
 * decodePluginMessage decides).
 */
function numberAt(b: Uint8Array, p: number, len: number): number {
  const x = b[p]!;
  if (x <= 0x7f || x >= 0xe0) {
    rp = p + 1;
    return x <= 0x7f ? x : x - 0x100;
  }
  const size = NUMBER_BYTES[x - 0xc0] ?? 0;
  if (size === 0 || p + size > len) {
    rp = NaN;
    return NaN;
  }
  rp = p + size;
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
function finiteAt(b: Uint8Array, p: number, len: number): boolean {
  if (b[p] !== 0xcb) return Number.isFinite(numberAt(b, p, len));
  if (p + 9 > len) {
    rp = NaN;
    return false;
  }
  rp = p + 9;
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
function stringAt(b: Uint8Array, p: number, len: number): number {
  const x = b[p]!;
  let n: number;
  if (x >= 0xa0 && x <= 0xbf) {
    n = x & 0x1f;
    rs = p + 1;
  } else if (x === 0xd9 && p + 2 <= len) {
    n = b[p + 1]!;
    rs = p + 2;
  } else if (x === 0xda && p + 3 <= len) {
    n = u16(b, p + 1);
    rs = p + 3;
  } else return -1;
  rp = rs + n;
  if (rp > len) return -1;
  for (let q = rs; q < rp; q++) {
    if (b[q]! >= 0x80) return isUtf8(b.subarray(q, rp)) ? n : -1;
  }
  return n;
}

/**
 * codec.ts isStr (1 to 256 UTF-16 units) for the string at `p`: a valid UTF-8 string of
 * 1 to 256 bytes has 1 to 256 units; a longer one is left to the decoder.
 */
function strOk(b: Uint8Array, p: number, len: number): boolean {
  const n = stringAt(b, p, len);
  return n >= 1 && n <= 256;
}

/** HUNT_ID_RE (protocol/limits.ts: 1 to 64 of A-Z a-z 0-9 _ -) on the string at `p`. */
function huntOk(b: Uint8Array, p: number, len: number): boolean {
  const n = stringAt(b, p, len);
  if (n < 1 || n > 64) return false;
  for (let q = rs; q < rp; q++) {
    const c = b[q]!;
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d)) return false;
  }
  return true;
}

// Event kinds, as codec.ts checkEvent knows them.
const JOIN = 1;
const LEAVE = 2;
const ENTER = 3;
const START = 4;
const RULES = 5;
const STOP = 6;

/** The kind named by the string at `p`, or 0. */
function kindAt(b: Uint8Array, p: number, len: number): number {
  const n = stringAt(b, p, len);
  const s = rs;
  const c = b[s]!;
  if (n === 4 && c === 0x6a && b[s + 1] === 0x6f && b[s + 2] === 0x69 && b[s + 3] === 0x6e) return JOIN; // join
  if (n === 5 && c === 0x6c && b[s + 1] === 0x65 && b[s + 2] === 0x61 && b[s + 3] === 0x76 && b[s + 4] === 0x65) return LEAVE; // leave
  if (n === 5 && c === 0x65 && b[s + 1] === 0x6e && b[s + 2] === 0x74 && b[s + 3] === 0x65 && b[s + 4] === 0x72) return ENTER; // enter
  if (n === 5 && c === 0x73 && b[s + 1] === 0x74 && b[s + 2] === 0x61 && b[s + 3] === 0x72 && b[s + 4] === 0x74) return START; // start
  if (n === 5 && c === 0x72 && b[s + 1] === 0x75 && b[s + 2] === 0x6c && b[s + 3] === 0x65 && b[s + 4] === 0x73) return RULES; // rules
  if (n === 4 && c === 0x73 && b[s + 1] === 0x74 && b[s + 2] === 0x6f && b[s + 3] === 0x70) return STOP; // stop
  return 0;
}

// Fields seen, as bits.
const F_T = 1;
const F_E = 2;
const F_N = 4;
const F_P = 8;
const F_I = 16;
const F_HUNT = 32;
const F_TR = 64;
const F_REGION = 128;
const F_AT = 256;
const F_RULES = 512;
const F_HASH = 1024;
const F_K = 2048;
const F_SUS = 4096;
const F_RELOAD = 8192;

/** What each kind needs besides t, e and n (codec.ts checkEvent). */
const NEEDS = [0, F_P | F_I, F_P, F_P | F_HUNT | F_TR | F_REGION | F_AT, F_P | F_HUNT | F_RULES | F_HASH, F_HUNT | F_RULES | F_HASH, F_P | F_HUNT];

/**
 * End of the event at `p` when it is a map that protocol/msgpack-scan.ts and codec.ts
 * checkEvent accept, of known keys only; -1 when it is not, or when this reader is not sure
 * (the decoder then decides).
 */
function eventEnd(b: Uint8Array, p: number, len: number): number {
  const x = b[p]!;
  let fields: number;
  if (x >= 0x80 && x <= 0x8f) {
    fields = x & 0x0f;
    p += 1;
  } else if (x === 0xde && p + 3 <= len) {
    fields = u16(b, p + 1);
    p += 3;
  } else return -1;
  let kind = 0;
  let seen = 0;
  for (let f = 0; f < fields; f++) {
    // Keys of 1 to 6 ASCII letters (fixstr); which one, from its length and bytes.
    if (p >= len) return -1;
    const n = b[p]! - 0xa0;
    if (n < 1 || n > 6 || p + 1 + n > len) return -1;
    const k0 = b[p + 1]!;
    const k1 = n > 1 ? b[p + 2]! : 0;
    const s = p + 1;
    p += 1 + n;
    if (p >= len) return -1;
    let bit: number;
    let ok: boolean;
    if (n === 1) {
      switch (k0) {
        case 0x6b: // k
          bit = F_K;
          kind = kindAt(b, p, len);
          ok = kind !== 0;
          break;
        case 0x74: // t
          bit = F_T;
          ok = finiteAt(b, p, len);
          break;
        case 0x65: // e
        case 0x6e: {
          // n
          bit = k0 === 0x65 ? F_E : F_N;
          const v = numberAt(b, p, len);
          ok = Number.isSafeInteger(v) && v >= 0;
          break;
        }
        case 0x70: // p
          bit = F_P;
          ok = strOk(b, p, len);
          break;
        case 0x69: // i
          bit = F_I;
          ok = Number.isSafeInteger(numberAt(b, p, len));
          break;
        default:
          return -1;
      }
    } else if (n === 2 && k0 === 0x74 && k1 === 0x72) {
      bit = F_TR;
      ok = strOk(b, p, len);
    } else if (n === 2 && k0 === 0x61 && k1 === 0x74) {
      // at: [x, y, z]
      bit = F_AT;
      ok = b[p] === 0x93 && finiteAt(b, p + 1, len) && finiteAt(b, rp, len) && finiteAt(b, rp, len);
    } else if (n === 4 && k0 === 0x68 && k1 === 0x75 && b[s + 2] === 0x6e && b[s + 3] === 0x74) {
      bit = F_HUNT;
      ok = huntOk(b, p, len);
    } else if (n === 4 && k0 === 0x68 && k1 === 0x61 && b[s + 2] === 0x73 && b[s + 3] === 0x68) {
      bit = F_HASH;
      ok = strOk(b, p, len);
    } else if (n === 6 && k0 === 0x72 && k1 === 0x65 && b[s + 2] === 0x67 && b[s + 3] === 0x69 && b[s + 4] === 0x6f && b[s + 5] === 0x6e) {
      bit = F_REGION;
      ok = strOk(b, p, len);
    } else if ((n === 3 && k0 === 0x73 && k1 === 0x75 && b[s + 2] === 0x73) || (n === 6 && k0 === 0x72 && k1 === 0x65 && b[s + 2] === 0x6c && b[s + 3] === 0x6f && b[s + 4] === 0x61 && b[s + 5] === 0x64)) {
      // sus (enter), reload (rules): flags checkEvent does not look at, written as 1
      bit = n === 3 ? F_SUS : F_RELOAD;
      ok = b[p]! <= 0x7f;
      rp = p + 1;
    } else if (n === 5 && k0 === 0x72 && k1 === 0x75 && b[s + 2] === 0x6c && b[s + 3] === 0x65 && b[s + 4] === 0x73) {
      // rules: a map, whatever it holds, checked by the scan itself (three containers around it)
      bit = F_RULES;
      const r = b[p]!;
      ok = (r >= 0x80 && r <= 0x8f) || r === 0xde || r === 0xdf;
      if (ok) {
        try {
          rp = skipValue(b, p, 3);
        } catch (err) {
          if (!(err instanceof MsgpackScanError)) throw err;
          ok = false;
        }
      }
    } else return -1;
    if (!ok || seen & bit) return -1;
    seen |= bit;
    p = rp;
  }
  const needs = F_T | F_E | F_N | NEEDS[kind]!;
  return kind !== 0 && (seen & needs) === needs ? p : -1;
}
