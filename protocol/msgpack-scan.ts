/**
 * The one structural reader of msgpack bytes from the network (frames at the gateway,
 * records at the worker), run before anything is decoded. It walks every byte once and
 * refuses:
 * - extension types: msgpackr decodes its own extensions (records, RegExp, Error, Date,
 *   Set...) whatever the Unpackr's options, and a record definition would change how later
 *   bytes decode;
 * - nesting deeper than MAX_DEPTH and lengths that do not fit the bytes (a 2^32-1 header);
 * - strings that are not UTF-8 (two different byte strings would decode to the same
 *   replacement characters, so the bytes forwarded would not be the only encoding of
 *   what was validated);
 * - map keys that are not strings, the key `__proto__`, and a key twice in one map,
 *   anywhere: with a duplicate, a decoder keeps the last value while a reader of the bytes
 *   may take the first, so what is validated and what is forwarded could differ.
 *
 * `scanMap` also returns where each value of the top-level map sits, and each element of
 * one array under it (a batch's `ev`, a record's `ev`), so an event's bytes can be
 * forwarded exactly as they were validated, without encoding them again.
 *
 * Over ~300 lines: validating and locating are one loop over the bytes (what is located is
 * exactly what was validated), and it reads best whole.
 */
import { isUtf8 } from 'node:buffer';

export const MAX_DEPTH = 32;

/** Bytes that are not msgpack this reader accepts; the message says what and at which byte. */
export class MsgpackScanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MsgpackScanError';
  }
}

const fail = (pos: number, what: string): never => {
  throw new MsgpackScanError(`${what} (byte ${pos})`);
};

/** Keys of a small map are compared byte by byte; past this many, through a Set. */
const LINEAR_KEYS = 16;

// Scan state, per open container level (module-level: the scan is synchronous and never re-entered).
const left = new Float64Array(MAX_DEPTH + 2);
const isMap = new Uint8Array(MAX_DEPTH + 2);
const keyBase = new Int32Array(MAX_DEPTH + 2);
const keySets: (Set<string> | undefined)[] = new Array(MAX_DEPTH + 2);
/** (start, length) of the keys of the open small maps, LINEAR_KEYS per level at most */
const keyAt = new Int32Array(2 * LINEAR_KEYS * (MAX_DEPTH + 2));
let keyTop = 0;

const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"

/** The big-endian uint16 and uint32 at `p` (msgpack's lengths and integers). */
export function u16(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}
export function u32(b: Uint8Array, p: number): number {
  return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

/** [content start, content end] of the string at `pos` (its first byte already read as `b`), or fails: map keys are strings. */
function keyBounds(buf: Uint8Array, b: number, pos: number): [number, number] {
  const len = buf.length;
  let n: number;
  if (b >= 0xa0 && b <= 0xbf) n = b & 0x1f;
  else if (b === 0xd9) {
    if (pos + 1 > len) fail(pos, 'truncated msgpack');
    n = buf[pos++]!;
  } else if (b === 0xda) {
    if (pos + 2 > len) fail(pos, 'truncated msgpack');
    n = u16(buf, pos);
    pos += 2;
  } else if (b === 0xdb) {
    if (pos + 4 > len) fail(pos, 'truncated msgpack');
    n = u32(buf, pos);
    pos += 4;
  } else return fail(pos - 1, `map key of msgpack type 0x${b.toString(16)}: keys must be strings`);
  if (pos + n > len) fail(pos, 'truncated msgpack');
  return [pos, pos + n];
}

function sameBytes(buf: Uint8Array, a: number, b: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (buf[a + k] !== buf[b + k]) return false;
  return true;
}

const keyText = (buf: Uint8Array, s: number, e: number) => Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('utf8');

function checkUtf8(buf: Uint8Array, s: number, e: number, what: string): void {
  for (let k = s; k < e; k++) {
    if (buf[k]! >= 0x80) {
      if (!isUtf8(buf.subarray(k, e))) fail(s, `${what} is not UTF-8`);
      return;
    }
  }
}

/** A key must be UTF-8 (so equal bytes are equal keys) and not `__proto__`. */
function checkKeyBytes(buf: Uint8Array, s: number, e: number): void {
  checkUtf8(buf, s, e, 'map key');
  if (e - s === 9 && PROTO.every((c, k) => buf[s + k] === c)) fail(s, 'map key "__proto__" is not allowed');
}

/** Checks a key's bytes [s, e) of the map open at `level` and remembers it. */
function checkKey(buf: Uint8Array, level: number, s: number, e: number): void {
  const n = e - s;
  checkKeyBytes(buf, s, e);
  const set = keySets[level];
  if (set) {
    const text = Buffer.from(buf.buffer, buf.byteOffset + s, n).toString('latin1');
    if (set.has(text)) fail(s, `duplicate map key ${JSON.stringify(keyText(buf, s, e))}`);
    set.add(text);
    return;
  }
  const base = keyBase[level]!;
  for (let k = base; k < keyTop; k++) {
    if (keyAt[2 * k + 1] === n && sameBytes(buf, keyAt[2 * k]!, s, n)) fail(s, `duplicate map key ${JSON.stringify(keyText(buf, s, e))}`);
  }
  if (keyTop - base < LINEAR_KEYS) {
    keyAt[2 * keyTop] = s;
    keyAt[2 * keyTop + 1] = n;
    keyTop++;
    return;
  }
  // A big map: move its keys into a Set.
  const big = new Set<string>();
  for (let k = base; k < keyTop; k++) big.add(Buffer.from(buf.buffer, buf.byteOffset + keyAt[2 * k]!, keyAt[2 * k + 1]!).toString('latin1'));
  big.add(Buffer.from(buf.buffer, buf.byteOffset + s, n).toString('latin1'));
  keySets[level] = big;
  keyTop = base;
}

/** Position after a string or binary of `n` bytes at `pos` (a string checked as UTF-8). */
function blob(buf: Uint8Array, isStr: boolean, pos: number, n: number): number {
  if (pos + n > buf.length) fail(buf.length, 'truncated msgpack');
  if (isStr) checkUtf8(buf, pos, pos + n, 'string');
  return pos + n;
}

/**
 * Position just after the msgpack value at `pos`, every byte of it checked (see the
 * module comment). `depth`: the number of containers around the value. Throws
 * MsgpackScanError.
 */
export function skipValue(buf: Uint8Array, pos: number, depth = 0): number {
  const len = buf.length;
  const keyTop0 = keyTop;
  let d = 0;
  left[0] = 1;
  isMap[0] = 0;
  try {
    for (;;) {
      while (left[d] === 0) {
        if (d === 0) return pos;
        if (isMap[d]) {
          keyTop = keyBase[d]!;
          keySets[d] = undefined;
        }
        d--;
      }
      const key = isMap[d] === 1 && left[d]! % 2 === 0;
      left[d]! -= 1;
      if (pos >= len) fail(pos, 'truncated msgpack');
      const b = buf[pos++]!;
      if (key) {
        const [s, e] = keyBounds(buf, b, pos);
        checkKey(buf, d, s, e);
        pos = e;
        continue;
      }
      let items = -1;
      let map = 0;
      if (b <= 0x7f || b >= 0xe0) continue;
      if (b <= 0x8f) {
        items = (b & 0x0f) * 2;
        map = 1;
      } else if (b <= 0x9f) items = b & 0x0f;
      else if (b <= 0xbf) {
        const n = b & 0x1f;
        if (pos + n > len) fail(len, 'truncated msgpack');
        checkUtf8(buf, pos, pos + n, 'string');
        pos += n;
      } else {
        switch (b) {
          case 0xc0: case 0xc2: case 0xc3: break;
          case 0xcc: case 0xd0: pos += 1; break;
          case 0xcd: case 0xd1: pos += 2; break;
          case 0xce: case 0xd2: case 0xca: pos += 4; break;
          case 0xcf: case 0xd3: case 0xcb: pos += 8; break;
          case 0xd9: case 0xc4:
            if (pos + 1 > len) fail(pos, 'truncated msgpack');
            pos = blob(buf, b === 0xd9, pos + 1, buf[pos]!);
            break;
          case 0xda: case 0xc5:
            if (pos + 2 > len) fail(pos, 'truncated msgpack');
            pos = blob(buf, b === 0xda, pos + 2, u16(buf, pos));
            break;
          case 0xdb: case 0xc6:
            if (pos + 4 > len) fail(pos, 'truncated msgpack');
            pos = blob(buf, b === 0xdb, pos + 4, u32(buf, pos));
            break;
          case 0xdc: case 0xde:
            if (pos + 2 > len) fail(pos, 'truncated msgpack');
            items = u16(buf, pos);
            if (b === 0xde) {
              items *= 2;
              map = 1;
            }
            pos += 2;
            break;
          case 0xdd: case 0xdf:
            if (pos + 4 > len) fail(pos, 'truncated msgpack');
            items = u32(buf, pos);
            if (b === 0xdf) {
              items *= 2;
              map = 1;
            }
            pos += 4;
            break;
          default:
            fail(pos - 1, `msgpack type 0x${b.toString(16)} (extension or reserved) is not allowed`);
        }
      }
      if (items >= 0) {
        // Every item takes at least one byte: a count beyond the bytes is a lie.
        if (items > len - pos) fail(pos, 'msgpack container longer than the bytes that hold it');
        if (depth + d >= MAX_DEPTH) fail(pos, `msgpack nested deeper than ${MAX_DEPTH}`);
        d++;
        left[d] = items;
        isMap[d] = map;
        if (map) {
          keyBase[d] = keyTop;
          keySets[d] = undefined;
        }
      } else if (pos > len) {
        fail(len, 'truncated msgpack');
      }
    }
  } finally {
    // A failure leaves levels open: forget their keys.
    keyTop = keyTop0;
    for (let k = 1; k <= d; k++) keySets[k] = undefined;
  }
}

/** What is wrong with `buf` as exactly one msgpack value, or undefined. */
export function scanMsgpack(buf: Uint8Array): string | undefined {
  try {
    const end = skipValue(buf, 0);
    return end === buf.length ? undefined : `trailing bytes after the msgpack value (byte ${end})`;
  } catch (err) {
    if (err instanceof MsgpackScanError) return err.message;
    throw err;
  }
}

/** A value of the top-level map: its key and the bytes [start, end) of its value. */
export interface MapEntry {
  key: string;
  start: number;
  end: number;
}

export interface MapLayout {
  entries: MapEntry[];
  /** [start0, end0, start1, end1, ...] of the elements of the array under `arrayKey`, when there is one */
  elements: number[] | undefined;
}

/** [count, position after the header] of the map or array header at `pos`, or undefined for another type. */
export function containerHeader(buf: Uint8Array, pos: number, kind: 'map' | 'array'): [number, number] | undefined {
  const b = buf[pos];
  if (b === undefined) return undefined;
  const [fix, n16, n32] = kind === 'map' ? [0x80, 0xde, 0xdf] : [0x90, 0xdc, 0xdd];
  if (b >= fix && b <= fix + 0x0f) return [b & 0x0f, pos + 1];
  if (b === n16 && pos + 3 <= buf.length) return [u16(buf, pos + 1), pos + 3];
  if (b === n32 && pos + 5 <= buf.length) return [u32(buf, pos + 1), pos + 5];
  return undefined;
}

/** [content start, content end] of a bin value at `pos`, or undefined when it is not bin. */
export function binBounds(buf: Uint8Array, pos: number, end: number): [number, number] | undefined {
  const b = buf[pos];
  const head = b === 0xc4 ? 2 : b === 0xc5 ? 3 : b === 0xc6 ? 5 : 0;
  return head === 0 ? undefined : [pos + head, end];
}

/**
 * Checks that `buf` is exactly one msgpack map, every byte as skipValue checks it, and
 * says where its values are, and the elements of its array under `arrayKey` (the same
 * single walk). Throws MsgpackScanError.
 */
export function scanMap(buf: Uint8Array, arrayKey?: string): MapLayout {
  const head = containerHeader(buf, 0, 'map');
  if (!head) {
    // Name a structural problem first (an extension type, a lie about a length), if any.
    if (buf.length > 0) skipValue(buf, 0);
    return fail(0, buf.length === 0 ? 'empty bytes, not a map' : 'not a map');
  }
  let [n, pos] = head;
  if (n * 2 > buf.length - pos) fail(pos, 'msgpack container longer than the bytes that hold it');
  const entries: MapEntry[] = [];
  let elements: number[] | undefined;
  const seen = new Set<string>();
  for (let k = 0; k < n; k++) {
    if (pos >= buf.length) fail(pos, 'truncated msgpack');
    const [s, e] = keyBounds(buf, buf[pos]!, pos + 1);
    checkKeyBytes(buf, s, e);
    const key = keyText(buf, s, e);
    if (seen.has(key)) fail(s, `duplicate map key ${JSON.stringify(key)}`);
    seen.add(key);
    const start = e;
    const arr = key === arrayKey ? containerHeader(buf, start, 'array') : undefined;
    if (arr) {
      const [count, first] = arr;
      if (count > buf.length - first) fail(first, 'msgpack container longer than the bytes that hold it');
      elements = new Array<number>(count * 2);
      pos = first;
      for (let j = 0; j < count; j++) {
        elements[2 * j] = pos;
        pos = skipValue(buf, pos, 2);
        elements[2 * j + 1] = pos;
      }
    } else {
      pos = skipValue(buf, start, 1);
    }
    entries.push({ key, start, end: pos });
  }
  if (pos !== buf.length) fail(pos, 'trailing bytes after the msgpack value');
  return { entries, elements };
}
