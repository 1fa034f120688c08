/**
 * The gateway's fast path for batch frames: one structural scan of the frame
 * (protocol/msgpack-scan.ts, which also locates each event), then each discrete event's
 * fields checked where they lie in the bytes, with no object built. The gateway forwards
 * those bytes (gateway/batch-records.ts), so nothing needs the events decoded; the live
 * page, which does, decodes them on demand.
 *
 * It accepts a frame only when decodePluginMessage (protocol/codec.ts) accepts it as the
 * same batch: the same seq and watermark, the same events at the same bytes, the same
 * moves block (test/support/frame-fuzz.ts checks this on every fuzzed frame). Anything it
 * is not sure of (another message, an unknown key, a field of an unusual encoding, and
 * every frame with a problem) it leaves to decodePluginMessage, which accepts it or names
 * what is wrong.
 */
import { decodeScanned, batchLayout, type BatchLayout } from './codec.js';
import type { DiscreteEvent } from './events.js';
import { MAX_FRAME_BYTES } from './limits.js';
import { Op, type Batch } from './messages.js';
import { movesValid } from './moves.js';
import { binBounds, MsgpackScanError, scanMap, skipValue, type MapLayout } from './msgpack-scan.js';

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
 */
export function readBatchFrame(bytes: Uint8Array, limit = MAX_FRAME_BYTES): BatchFrame | undefined {
  if (bytes.byteLength > limit) return undefined;
  let layout: MapLayout;
  try {
    layout = scanMap(bytes, 'ev');
  } catch (err) {
    if (err instanceof MsgpackScanError) return undefined;
    throw err;
  }
  dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let op = NaN;
  let seq = NaN;
  let wm = NaN;
  let ev: [number, number] | undefined;
  let moves: [number, number] | undefined;
  for (const en of layout.entries) {
    switch (en.key) {
      case 'op':
        op = numberAt(bytes, en.start);
        break;
      case 'seq':
        seq = numberAt(bytes, en.start);
        break;
      case 'wm':
        wm = numberAt(bytes, en.start);
        break;
      case 'ev':
        ev = [en.start, en.end];
        break;
      case 'mv':
        moves = binBounds(bytes, en.start, en.end);
        if (!moves || !movesValid(bytes.subarray(moves[0], moves[1]))) return undefined;
        break;
      default:
        return undefined;
    }
  }
  if (op !== Op.Batch || !Number.isSafeInteger(seq) || seq < 1 || !Number.isFinite(wm) || !ev || !layout.elements) return undefined;
  const at = layout.elements;
  for (let j = 0; j < at.length; j += 2) if (!eventValid(bytes, at[j]!)) return undefined;
  let decoded: DiscreteEvent[] | undefined;
  const evBytes = bytes.subarray(ev[0], ev[1]);
  return {
    seq,
    wm,
    count: at.length / 2,
    layout: { frame: bytes, at, moves },
    mv: moves ? bytes.subarray(moves[0], moves[1]) : undefined,
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
 * The number at `p` as msgpackr decodes it, setting rp; NaN for anything else, and for
 * float32 and 64-bit integers (the plugin writes neither; decodePluginMessage decides).
 */
function numberAt(b: Uint8Array, p: number): number {
  const x = b[p]!;
  if (x <= 0x7f) {
    rp = p + 1;
    return x;
  }
  if (x >= 0xe0) {
    rp = p + 1;
    return x - 0x100;
  }
  switch (x) {
    case 0xcb:
      rp = p + 9;
      return dv.getFloat64(p + 1);
    case 0xcc:
      rp = p + 2;
      return b[p + 1]!;
    case 0xcd:
      rp = p + 3;
      return u16(b, p + 1);
    case 0xce:
      rp = p + 5;
      return u32(b, p + 1);
    case 0xd0:
      rp = p + 2;
      return (b[p + 1]! << 24) >> 24;
    case 0xd1:
      rp = p + 3;
      return (u16(b, p + 1) << 16) >> 16;
    case 0xd2:
      rp = p + 5;
      return (b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!;
    default:
      return NaN;
  }
}

/** Byte length of the string at `p` (its content from rs to rp), or -1 when the value is not a string. */
function stringAt(b: Uint8Array, p: number): number {
  const x = b[p]!;
  let n: number;
  if (x >= 0xa0 && x <= 0xbf) {
    n = x & 0x1f;
    rs = p + 1;
  } else if (x === 0xd9) {
    n = b[p + 1]!;
    rs = p + 2;
  } else if (x === 0xda) {
    n = u16(b, p + 1);
    rs = p + 3;
  } else if (x === 0xdb) {
    n = u32(b, p + 1);
    rs = p + 5;
  } else return -1;
  rp = rs + n;
  return n;
}

/**
 * codec.ts isStr (1 to 256 UTF-16 units) for the string at `p`: a valid UTF-8 string of
 * 1 to 256 bytes has 1 to 256 units; a longer one is left to the decoder.
 */
function strOk(b: Uint8Array, p: number): boolean {
  const n = stringAt(b, p);
  return n >= 1 && n <= 256;
}

/** HUNT_ID_RE (protocol/limits.ts: 1 to 64 of A-Z a-z 0-9 _ -) on the string at `p`. */
function huntOk(b: Uint8Array, p: number): boolean {
  const n = stringAt(b, p);
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
function kindAt(b: Uint8Array, p: number): number {
  const n = stringAt(b, p);
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

/** What each kind needs besides t, e and n (codec.ts checkEvent). */
const NEEDS = [0, F_P | F_I, F_P, F_P | F_HUNT | F_TR | F_REGION | F_AT, F_P | F_HUNT | F_RULES | F_HASH, F_HUNT | F_RULES | F_HASH, F_P | F_HUNT];

/**
 * True when the event at `p` (bytes the scan accepted) passes codec.ts checkEvent; false
 * when it does not, or when this reader is not sure (the decoder then decides).
 */
function eventValid(b: Uint8Array, p: number): boolean {
  const x = b[p]!;
  let fields: number;
  if (x >= 0x80 && x <= 0x8f) {
    fields = x & 0x0f;
    p += 1;
  } else if (x === 0xde) {
    fields = u16(b, p + 1);
    p += 3;
  } else return false;
  let kind = 0;
  let seen = 0;
  for (let f = 0; f < fields; f++) {
    // Keys are strings (the scan refused any other); the value follows.
    const n = stringAt(b, p);
    const k0 = b[rs]!;
    const k1 = n > 1 ? b[rs + 1]! : 0;
    p = rp;
    let ok = true;
    if (n === 1) {
      switch (k0) {
        case 0x6b: // k
          kind = kindAt(b, p);
          ok = kind !== 0;
          break;
        case 0x74: // t
          ok = Number.isFinite(numberAt(b, p));
          seen |= F_T;
          break;
        case 0x65: // e
        case 0x6e: {
          // n
          const v = numberAt(b, p);
          ok = Number.isSafeInteger(v) && v >= 0;
          seen |= k0 === 0x65 ? F_E : F_N;
          break;
        }
        case 0x70: // p
          ok = strOk(b, p);
          seen |= F_P;
          break;
        case 0x69: // i
          ok = Number.isSafeInteger(numberAt(b, p));
          seen |= F_I;
          break;
        default:
          rp = skipValue(b, p, 3);
      }
    } else if (n === 2 && k0 === 0x74 && k1 === 0x72) {
      // tr
      ok = strOk(b, p);
      seen |= F_TR;
    } else if (n === 2 && k0 === 0x61 && k1 === 0x74) {
      // at: [x, y, z]
      ok = b[p] === 0x93 && Number.isFinite(numberAt(b, p + 1)) && Number.isFinite(numberAt(b, rp)) && Number.isFinite(numberAt(b, rp));
      seen |= F_AT;
    } else if (n === 4 && k0 === 0x68 && k1 === 0x75 && b[rs + 2] === 0x6e && b[rs + 3] === 0x74) {
      // hunt
      ok = huntOk(b, p);
      seen |= F_HUNT;
    } else if (n === 4 && k0 === 0x68 && k1 === 0x61 && b[rs + 2] === 0x73 && b[rs + 3] === 0x68) {
      // hash
      ok = strOk(b, p);
      seen |= F_HASH;
    } else if (n === 6 && k0 === 0x72 && k1 === 0x65 && b[rs + 2] === 0x67 && b[rs + 3] === 0x69 && b[rs + 4] === 0x6f && b[rs + 5] === 0x6e) {
      // region
      ok = strOk(b, p);
      seen |= F_REGION;
    } else if (n === 5 && k0 === 0x72 && k1 === 0x75 && b[rs + 2] === 0x6c && b[rs + 3] === 0x65 && b[rs + 4] === 0x73) {
      // rules: a map, whatever it holds
      const r = b[p]!;
      ok = (r >= 0x80 && r <= 0x8f) || r === 0xde || r === 0xdf;
      rp = skipValue(b, p, 3);
      seen |= F_RULES;
    } else {
      rp = skipValue(b, p, 3);
    }
    if (!ok) return false;
    p = rp;
  }
  const needs = F_T | F_E | F_N | NEEDS[kind]!;
  return kind !== 0 && (seen & needs) === needs;
}
