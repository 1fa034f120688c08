/**
 * Trace lines held compactly between the replay's two passes over a trace: the validating
 * pass keeps what it read as blocks, and the replay takes its lines from them instead of
 * parsing the file again (parsing is most of a replay's cost per line).
 *
 * A block is a few typed arrays and a string table: a move line costs 45 bytes (its time,
 * ids and position), against ~130 bytes as an object, and the arrays are outside the
 * JavaScript heap, so a million lines held add nothing to garbage collection. The arrays
 * can be moved between threads without copying (`transferables`). Lines of other types are
 * rare and are kept as they are.
 */
import type { TraceLine } from './trace.js';
import { StringIndex } from '../../common/string-index.js';

export interface TraceBlock {
  /** lines held */
  n: number;
  /** each line's time */
  t: Float64Array;
  /** 1: the line is the next of `others`; 0: a move held in the columns */
  other: Uint8Array;
  /** server, player, region of each move: indices into `strings` */
  ids: Uint32Array;
  /** x, y, z of each move */
  at: Float64Array;
  strings: string[];
  others: TraceLine[];
}

/** The buffers of a block, to transfer it to another thread without a copy. */
export function transferables(b: TraceBlock): ArrayBuffer[] {
  return [b.t.buffer, b.other.buffer, b.ids.buffer, b.at.buffer] as ArrayBuffer[];
}

/** Bytes a block holds outside the JavaScript heap. */
export function blockBytes(b: TraceBlock): number {
  return b.t.buffer.byteLength + b.other.buffer.byteLength + b.ids.buffer.byteLength + b.at.buffer.byteLength;
}

export class TraceBlockBuilder {
  private n = 0;
  private t: Float64Array;
  private other: Uint8Array;
  private ids: Uint32Array;
  private at: Float64Array;
  private readonly strings = new StringIndex();
  private readonly others: TraceLine[] = [];

  constructor(capacity = 1024) {
    this.t = new Float64Array(capacity);
    this.other = new Uint8Array(capacity);
    this.ids = new Uint32Array(capacity * 3);
    this.at = new Float64Array(capacity * 3);
  }

  add(line: TraceLine): void {
    if (line.type === 'move') return this.addMove(line.t, line.server, line.player, line.region, line.at[0], line.at[1], line.at[2]);
    const k = this.n;
    if (k === this.t.length) this.grow();
    this.t[k] = line.t;
    this.other[k] = 1;
    this.others.push(line);
    this.n = k + 1;
  }

  addMove(t: number, server: string, player: string, region: string, x: number, y: number, z: number): void {
    const k = this.n;
    if (k === this.t.length) this.grow();
    this.t[k] = t;
    const j = k * 3;
    this.ids[j] = this.strings.of(server);
    this.ids[j + 1] = this.strings.of(player);
    this.ids[j + 2] = this.strings.of(region);
    this.at[j] = x;
    this.at[j + 1] = y;
    this.at[j + 2] = z;
    this.n = k + 1;
  }

  /**
   * The block of the lines added. Arrays at least 3/4 full are handed over as they are (a
   * view of their first lines; copying them cost as much as filling them), the others are
   * copied to their exact size.
   */
  finish(): TraceBlock {
    const n = this.n;
    const fit = n * 4 >= this.t.length * 3;
    const cut = <A extends Float64Array | Uint8Array | Uint32Array>(a: A, len: number): A => (fit ? (a.subarray(0, len) as A) : (a.slice(0, len) as A));
    return { n, t: cut(this.t, n), other: cut(this.other, n), ids: cut(this.ids, n * 3), at: cut(this.at, n * 3), strings: this.strings.values, others: this.others };
  }


  private grow(): void {
    const cap = this.t.length * 2;
    const t = new Float64Array(cap);
    t.set(this.t);
    const other = new Uint8Array(cap);
    other.set(this.other);
    const ids = new Uint32Array(cap * 3);
    ids.set(this.ids);
    const at = new Float64Array(cap * 3);
    at.set(this.at);
    this.t = t;
    this.other = other;
    this.ids = ids;
    this.at = at;
  }
}

/** The block's lines again, as the trace reader gave them (without line numbers), in arrays of up to `size`. */
export function* blockLines(b: TraceBlock, size = 4096): Generator<TraceLine[]> {
  const { t, other, ids, at, strings, others } = b;
  let o = 0;
  for (let start = 0; start < b.n; start += size) {
    const end = Math.min(b.n, start + size);
    const out: TraceLine[] = new Array(end - start);
    for (let k = start; k < end; k++) {
      if (other[k] === 1) {
        out[k - start] = others[o++]!;
        continue;
      }
      const j = k * 3;
      out[k - start] = { t: t[k]!, server: strings[ids[j]!]!, type: 'move', player: strings[ids[j + 1]!]!, region: strings[ids[j + 2]!]!, at: [at[j]!, at[j + 1]!, at[j + 2]!] };
    }
    yield out;
  }
}
