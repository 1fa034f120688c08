/**
 * The events of one window as the fold takes them: entries in columns (time, server,
 * player, epoch, counter, treasure, suspect), the few commands (start, stop, rules) as
 * objects. A window of 230 k entries read as one object each spent most of its read and
 * fold in allocating, collecting and comparing them (window-close benchmark: about 1 s of
 * 2.4); as columns it is a handful of arrays, and the order is a numeric sort.
 *
 * The order is the contract's (DESIGN.md "Hunt semantics", compareHuntEvents): time,
 * commands before entries, server id, player id (string order), then epoch and counter.
 * order() packs time, kind and the server's rank into one number per event and sorts
 * those as a Float64Array; only events equal in all three (the same millisecond on the
 * same server) are then compared by player, epoch and counter. When the times are not
 * integers or the packed number would not be exact (a window spanning more than about
 * 2^53 / (2 x servers x events) ms), it sorts with the comparator instead: the same order.
 */
import type { HuntEvent } from '../protocol/index.js';
import { StringIndex } from '../common/string-index.js';

/** A (treasure id, region) an entry names. */
export interface EntryTreasure {
  tr: string;
  region: string;
}

export class WindowEvents {
  /** entry columns, one element per entry up to `size` (the arrays grow ahead of it) */
  t = new Float64Array(0);
  srv = new Int32Array(0);
  p: string[] = [];
  e = new Float64Array(0);
  n = new Float64Array(0);
  /** index into `treasures` */
  tr = new Int32Array(0);
  /** 1: the entry broke the hunt's maxSpeed */
  sus = new Uint8Array(0);
  private readonly serverIds = new StringIndex();
  /** server ids, by index */
  readonly servers = this.serverIds.values;
  /** (treasure, region) pairs, by index */
  readonly treasures: EntryTreasure[] = [];
  /** start, stop and rules events */
  readonly commands: HuntEvent[] = [];
  private readonly treasureIdx = new Map<string, Map<string, number>>();
  private count = 0;
  /** an entry's time is not a whole number of ms (order() then sorts with the comparator) */
  private fractional = false;
  /** range of the entries' times (after a truncate, possibly wider than what is left: only the packing's range) */
  private tMin = Infinity;
  private tMax = -Infinity;

  /** `entries`: how many entries to make room for at once (more grow the columns). */
  constructor(entries = 16) {
    this.reserve(entries);
  }

  /** Entries so far. */
  get size(): number {
    return this.count;
  }

  /** Room for `more` entries beyond `size`. */
  reserve(more: number): void {
    const need = this.count + more;
    if (need <= this.t.length) return;
    const cap = Math.max(16, need, 2 * this.t.length);
    this.t = grown(this.t, cap);
    this.srv = grown(this.srv, cap);
    this.e = grown(this.e, cap);
    this.n = grown(this.n, cap);
    this.tr = grown(this.tr, cap);
    this.sus = grown(this.sus, cap);
    // Assigned by index rather than pushed: pushing 230 k ids cost three times as much here.
    const p = new Array<string>(cap);
    for (let i = 0; i < this.count; i++) p[i] = this.p[i]!;
    this.p = p;
  }

  /** The index of a server id, added on first use. */
  server(id: string): number {
    return this.serverIds.of(id);
  }

  /** The index of a (treasure, region) pair, added on first use. */
  treasure(tr: string, region: string): number {
    let byRegion = this.treasureIdx.get(tr);
    if (!byRegion) this.treasureIdx.set(tr, (byRegion = new Map()));
    let i = byRegion.get(region);
    if (i === undefined) {
      i = this.treasures.length;
      this.treasures.push({ tr, region });
      byRegion.set(region, i);
    }
    return i;
  }

  enter(srv: number, e: number, n: number, t: number, p: string, tr: number, sus: number): void {
    const i = this.count;
    if (i >= this.t.length) this.reserve(1);
    if (t % 1 !== 0) this.fractional = true;
    if (t < this.tMin) this.tMin = t;
    if (t > this.tMax) this.tMax = t;
    this.t[i] = t;
    this.srv[i] = srv;
    this.p[i] = p;
    this.e[i] = e;
    this.n[i] = n;
    this.tr[i] = tr;
    this.sus[i] = sus;
    this.count = i + 1;
  }

  /** Any hunt event as an object. */
  add(ev: HuntEvent): void {
    if (ev.k === 'enter') this.enter(this.server(ev.server), ev.e, ev.n, ev.t, ev.p, this.treasure(ev.tr, ev.region), ev.sus === 1 ? 1 : 0);
    else {
      this.server(ev.server);
      this.commands.push(ev);
    }
  }

  /** Drops the entries from `size` on (undoes a partly read member). */
  truncate(size: number): void {
    this.count = Math.min(this.count, size);
  }

  /**
   * Every event's index in the contract's order: entries are 0..size-1, commands
   * size + their index in `commands`.
   */
  order(): Int32Array {
    const N = this.size;
    const total = N + this.commands.length;
    const out = new Int32Array(total);
    if (!total) return out;
    const rank = this.serverRanks();
    const S = this.servers.length;
    // The entries' range as they were added (a pass over 230 k times costs a cold worker 30 ms).
    let min = this.tMin;
    let max = this.tMax;
    let integral = true;
    const t = this.t;
    for (const c of this.commands) {
      if (c.t < min) min = c.t;
      if (c.t > max) max = c.t;
      if (!Number.isInteger(c.t)) integral = false;
    }
    // Whole milliseconds as stored: entries' times are checked as read (see `fractional`).
    if (this.fractional) integral = false;
    const idxMul = 2 ** Math.ceil(Math.log2(total + 1));
    const groups = (max - min + 1) * 2 * S;
    if (!integral || groups * idxMul > Number.MAX_SAFE_INTEGER) return this.orderByComparator(out);

    const keys = new Float64Array(total);
    const srv = this.srv;
    for (let i = 0; i < N; i++) keys[i] = (((t[i]! - min) * 2 + 1) * S + rank[srv[i]!]!) * idxMul + i;
    for (let c = 0; c < this.commands.length; c++) {
      const ev = this.commands[c]!;
      keys[N + c] = ((ev.t - min) * 2 * S + rank[this.serverIds.get(ev.server)!]!) * idxMul + N + c;
    }
    keys.sort();
    // The indexes, and runs equal in (time, kind, server) ordered by player, epoch, counter.
    let from = 0;
    let group = -1;
    for (let k = 0; k < total; k++) {
      const key = keys[k]!;
      const g = Math.floor(key / idxMul);
      out[k] = key - g * idxMul;
      if (g === group) continue;
      if (k - from > 1) out.subarray(from, k).sort((a, b) => this.tieBreak(a, b));
      from = k;
      group = g;
    }
    if (total - from > 1) out.subarray(from, total).sort((a, b) => this.tieBreak(a, b));
    return out;
  }

  /** Rank of each server index in string order of the ids. */
  private serverRanks(): Int32Array {
    const byId = this.servers.map((_, i) => i).sort((a, b) => cmp(this.servers[a]!, this.servers[b]!));
    const rank = new Int32Array(this.servers.length);
    byId.forEach((i, r) => (rank[i] = r));
    return rank;
  }

  private playerAt(i: number): string {
    if (i < this.size) return this.p[i]!;
    const ev = this.commands[i - this.size]!;
    return 'p' in ev ? ev.p : '';
  }

  private epochAt(i: number): number {
    return i < this.size ? this.e[i]! : this.commands[i - this.size]!.e;
  }

  private counterAt(i: number): number {
    return i < this.size ? this.n[i]! : this.commands[i - this.size]!.n;
  }

  private tieBreak(a: number, b: number): number {
    return cmp(this.playerAt(a), this.playerAt(b)) || this.epochAt(a) - this.epochAt(b) || this.counterAt(a) - this.counterAt(b);
  }

  private orderByComparator(out: Int32Array): Int32Array {
    const N = this.size;
    const timeAt = (i: number) => (i < N ? this.t[i]! : this.commands[i - N]!.t);
    const kindAt = (i: number) => (i < N ? 1 : 0);
    const serverAt = (i: number) => (i < N ? this.servers[this.srv[i]!]! : this.commands[i - N]!.server);
    for (let i = 0; i < out.length; i++) out[i] = i;
    return out.sort((a, b) => timeAt(a) - timeAt(b) || kindAt(a) - kindAt(b) || cmp(serverAt(a), serverAt(b)) || this.tieBreak(a, b));
  }
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function grown<T extends Float64Array | Int32Array | Uint8Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}
