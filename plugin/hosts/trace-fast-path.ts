/**
 * A fast path for the trace's most common line, for replay throughput: a move sample
 * written exactly as Cairn's tools write it, keys in this order, no spaces, no escapes:
 *
 *   {"t":1764331200050,"server":"srv-a","type":"move","player":"p1","region":"r1","at":[10.5,64,-20.25]}
 *
 * JSON.parse costs ~0.9 µs a line on our machines and `cairn replay` reads a trace twice
 * (validation, then the replay). This scanner reads the line's bytes where they lie in the
 * read buffer (no decoding of the line, no substring per line) and interns the ids and
 * regions, which repeat on almost every line, so a line costs one small object.
 *
 * It accepts only lines that JSON.parse would parse to the same object AND that the trace
 * validation would accept; on anything else (another shape or key order, whitespace, an
 * escape, a number JSON does not allow, an invalid id, a non-ASCII region) it returns
 * undefined and the caller takes the general path, which also names what is wrong.
 * test/plugin/trace-fast-path.test.ts checks it against JSON.parse.
 */
import type { TraceLine } from './trace.js';

const enc = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
const P_T = enc('{"t":');
const P_SERVER = enc(',"server":"');
const P_TYPE_MOVE_PLAYER = enc(',"type":"move","player":"');
const P_REGION = enc(',"region":"');
const P_AT = enc(',"at":[');

/** Powers of ten exactly representable as doubles (10^0 .. 10^22). */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** A..Z a..z 0..9 _ . : - (the id pattern's characters) */
const ID_BYTE = new Uint8Array(256);
for (const c of Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-', 'latin1')) ID_BYTE[c] = 1;

const MAX_INTERNED = 100_000;

export class MoveLineScanner {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private end = 0;
  /** interned strings by a hash of their bytes; colliding ones share a bucket */
  private readonly strings = new Map<number, string | string[]>();
  private interned = 0;

  /** Where the last line scanned ends (its \n, or the limit). */
  lineEnd = 0;
  /** The fields of the last line `read` accepted. */
  t = 0;
  server = '';
  player = '';
  region = '';
  x = 0;
  y = 0;
  z = 0;

  /**
   * The move line starting at `start` and ending at a \n or at `limit`, parsed and valid;
   * undefined for anything else. On success `lineEnd` is where the line ends, so the caller
   * need not look for the line break itself.
   */
  scan(buf: Uint8Array, start: number, limit: number): TraceLine | undefined {
    return this.read(buf, start, limit) ? this.line() : undefined;
  }

  /** The last line read, as an object (with its number when given). */
  line(): TraceLine;
  line(lineNo: number): TraceLine & { lineNo: number };
  line(lineNo?: number): TraceLine {
    const l: TraceLine = { t: this.t, server: this.server, type: 'move', player: this.player, region: this.region, at: [this.x, this.y, this.z] };
    if (lineNo !== undefined) (l as TraceLine & { lineNo: number }).lineNo = lineNo;
    return l;
  }

  /**
   * As `scan`, without making an object: true when the line is a valid move line, its fields
   * then in `t`, `server`, `player`, `region`, `x`, `y`, `z` until the next call.
   */
  read(buf: Uint8Array, start: number, limit: number): boolean {
    this.buf = buf;
    this.pos = start;
    this.end = limit;
    if (!this.lit(P_T)) return false;
    const t = this.num();
    if (t === undefined || !Number.isSafeInteger(t) || t < 0) return false;
    if (!this.lit(P_SERVER)) return false;
    const server = this.str(true);
    if (server === undefined || !this.lit(P_TYPE_MOVE_PLAYER)) return false;
    const player = this.str(true);
    if (player === undefined || !this.lit(P_REGION)) return false;
    const region = this.str(false);
    if (region === undefined || !this.lit(P_AT)) return false;
    const x = this.num();
    if (x === undefined || !this.byte(0x2c)) return false;
    const y = this.num();
    if (y === undefined || !this.byte(0x2c)) return false;
    const z = this.num();
    if (z === undefined || !this.byte(0x5d) || !this.byte(0x7d) || (this.pos !== limit && buf[this.pos] !== 0x0a)) return false;
    // 1e400 is valid JSON but Infinity: the validation refuses it, so the general path must report it.
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(z)) return false;
    this.lineEnd = this.pos;
    this.t = t;
    this.server = server;
    this.player = player;
    this.region = region;
    this.x = x;
    this.y = y;
    this.z = z;
    return true;
  }

  private lit(bytes: Uint8Array): boolean {
    const { buf } = this;
    let p = this.pos;
    if (p + bytes.length > this.end) return false;
    for (let k = 0; k < bytes.length; k++, p++) if (buf[p] !== bytes[k]) return false;
    this.pos = p;
    return true;
  }

  private byte(b: number): boolean {
    if (this.pos >= this.end || this.buf[this.pos] !== b) return false;
    this.pos++;
    return true;
  }

  /**
   * A string after its opening quote, up to the closing one: an id (1-64 id characters) or
   * a region (1-256 printable ASCII characters other than " and \); else undefined.
   */
  private str(id: boolean): string | undefined {
    const { buf, end } = this;
    const start = this.pos;
    let p = start;
    let h = 0x811c9dc5;
    for (; p < end; p++) {
      const c = buf[p]!;
      if (c === 0x22) break;
      if (id ? ID_BYTE[c] === 0 : c < 0x20 || c > 0x7e || c === 0x5c) return undefined;
      h = Math.imul(h ^ c, 0x01000193);
    }
    const len = p - start;
    if (p >= end || len === 0 || len > (id ? 64 : 256)) return undefined;
    this.pos = p + 1;
    return this.intern(start, len, h);
  }

  private intern(start: number, len: number, h: number): string {
    const hit = this.strings.get(h);
    if (typeof hit === 'string') {
      if (this.same(hit, start, len)) return hit;
    } else if (hit) {
      for (const s of hit) if (this.same(s, start, len)) return s;
    }
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + start, len).toString('latin1');
    if (this.interned < MAX_INTERNED) {
      this.interned++;
      if (hit === undefined) this.strings.set(h, s);
      else if (typeof hit === 'string') this.strings.set(h, [hit, s]);
      else hit.push(s);
    }
    return s;
  }

  private same(s: string, start: number, len: number): boolean {
    if (s.length !== len) return false;
    const { buf } = this;
    for (let k = 0; k < len; k++) if (s.charCodeAt(k) !== buf[start + k]) return false;
    return true;
  }

  /** A JSON number (strict grammar), as JSON.parse would read it; undefined when not one. */
  private num(): number | undefined {
    const { buf, end } = this;
    const start = this.pos;
    let p = start;
    let neg = false;
    if (buf[p] === 0x2d) {
      neg = true;
      p++;
    }
    // The digits as an integer mantissa, exact while there are at most 15 of them.
    let m = 0;
    let digits = 0;
    let c = p < end ? buf[p]! : -1;
    if (c === 0x30) c = ++p < end ? buf[p]! : -1;
    else if (c >= 0x31 && c <= 0x39) {
      while (c >= 0x30 && c <= 0x39) {
        m = m * 10 + (c - 0x30);
        digits++;
        c = ++p < end ? buf[p]! : -1;
      }
    } else return undefined;
    let frac = 0;
    if (c === 0x2e) {
      c = ++p < end ? buf[p]! : -1;
      if (!(c >= 0x30 && c <= 0x39)) return undefined;
      while (c >= 0x30 && c <= 0x39) {
        m = m * 10 + (c - 0x30);
        digits++;
        frac++;
        c = ++p < end ? buf[p]! : -1;
      }
    }
    let exp = false;
    if (c === 0x65 || c === 0x45) {
      exp = true;
      c = ++p < end ? buf[p]! : -1;
      if (c === 0x2b || c === 0x2d) c = ++p < end ? buf[p]! : -1;
      if (!(c >= 0x30 && c <= 0x39)) return undefined;
      while (c >= 0x30 && c <= 0x39) c = ++p < end ? buf[p]! : -1;
    }
    this.pos = p;
    // An exact mantissa divided by an exact power of ten is one correctly rounded operation:
    // the double nearest the decimal, as JSON.parse gives (Clinger's fast path).
    if (!exp && digits <= 15) {
      const v = frac === 0 ? m : m / POW10[frac]!;
      return neg ? -v : v;
    }
    return Number(Buffer.from(buf.buffer, buf.byteOffset + start, p - start).toString('latin1'));
  }
}
