/**
 * A discrete event of a batch frame checked where it lies: one walk over its map checks
 * what protocol/msgpack-scan.ts and codec.ts checkEvent check of it, for the keys and
 * encodings the plugin writes (batch-frame.ts calls it for each event of `ev`).
 */
import { MsgpackScanError, skipValue, u16 } from './msgpack-scan.js';
import { cur, finiteAt, huntOk, numberAt, stringAt, strOk } from './msgpack-read.js';

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
  const s = cur.rs;
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
export function eventEnd(b: Uint8Array, p: number, len: number): number {
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
    /** Where the value ends when no reader set rp (-1: rp says). */
    let end = -1;
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
      ok = b[p] === 0x93 && finiteAt(b, p + 1, len) && finiteAt(b, cur.rp, len) && finiteAt(b, cur.rp, len);
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
      end = p + 1;
    } else if (n === 5 && k0 === 0x72 && k1 === 0x75 && b[s + 2] === 0x6c && b[s + 3] === 0x65 && b[s + 4] === 0x73) {
      // rules: a map, whatever it holds, checked by the scan itself (three containers around it)
      bit = F_RULES;
      const r = b[p]!;
      ok = (r >= 0x80 && r <= 0x8f) || r === 0xde || r === 0xdf;
      if (ok) {
        try {
          end = skipValue(b, p, 3);
        } catch (err) {
          if (!(err instanceof MsgpackScanError)) throw err;
          ok = false;
        }
      }
    } else return -1;
    if (!ok || seen & bit) return -1;
    seen |= bit;
    p = end < 0 ? cur.rp : end;
  }
  const needs = F_T | F_E | F_N | NEEDS[kind]!;
  return kind !== 0 && (seen & needs) === needs ? p : -1;
}
