/**
 * The players a fold reads and writes, and their finds, in flat arrays: a window of 230 k
 * new finders spent more of its fold in a Map of 230 k players and two objects per player
 * than in the rules themselves (window-close benchmark: a Map insert and two small
 * objects cost about 1.5 us here, against 0.3 us for a slot in an open-addressing table
 * over typed arrays).
 *
 *   players  a slot each: id, the time and server of the latest find, and the list of
 *            its finds (newest first)
 *   finds    (player slot, treasure, time, server) each, in the order they were added:
 *            first the finds loaded from the stored history, then, after markHistory(),
 *            those the fold adds; the latter are what the window changed (newFinds)
 *
 * Servers and treasure ids are numbered in the table's own lists.
 */
import { fnv1a } from '../protocol/index.js';
import { StringIndex } from '../common/string-index.js';
import type { PlayerFinds } from './hunt-fold.js';

export class PlayerTable {
  /** player ids, by slot (up to `size`; the array grows ahead of it) */
  ids: string[] = [];
  private readonly serverIds = new StringIndex();
  private readonly treasureIds = new StringIndex();
  /** server ids, by index */
  readonly servers = this.serverIds.values;
  /** treasure ids, by index */
  readonly treasures = this.treasureIds.values;

  // per player slot
  lt = new Float64Array(0);
  ls = new Int32Array(0);
  /** newest find of the slot, or -1 */
  head = new Int32Array(0);
  /** number of the slot's finds */
  found = new Int32Array(0);

  // per find
  fPlayer = new Int32Array(0);
  fTr = new Int32Array(0);
  fT = new Float64Array(0);
  fServer = new Int32Array(0);
  /** the slot's previous find, or -1 */
  fNext = new Int32Array(0);
  finds = 0;
  /** finds below this index were loaded, not made by the fold */
  history = 0;

  private players = 0;
  private slots = new Int32Array(0);
  private mask = 0;

  /** `players`, `finds`: expected sizes (the arrays grow past them). */
  constructor(players = 16, finds = players) {
    this.growPlayers(players);
    this.growFinds(finds);
    this.rehash(players);
  }

  get size(): number {
    return this.players;
  }

  server(id: string): number {
    return this.serverIds.of(id);
  }

  treasure(id: string): number {
    return this.treasureIds.of(id);
  }

  /** The slot of a player, or -1. */
  lookup(p: string): number {
    const ids = this.ids;
    for (let h = fnv1a(p) & this.mask; ; h = (h + 1) & this.mask) {
      const s = this.slots[h]!;
      if (s === -1 || ids[s] === p) return s;
    }
  }

  /** The slot of a player, added (with no find) when missing. */
  slot(p: string): number {
    const ids = this.ids;
    let h = fnv1a(p) & this.mask;
    for (; ; h = (h + 1) & this.mask) {
      const s = this.slots[h]!;
      if (s === -1) break;
      if (ids[s] === p) return s;
    }
    const s = this.players++;
    if (s >= this.head.length) this.growPlayers(2 * s);
    this.ids[s] = p;
    this.head[s] = -1;
    this.found[s] = 0;
    this.lt[s] = 0;
    this.ls[s] = -1;
    this.slots[h] = s;
    // At most half full: probes stay short.
    if (2 * this.players > this.slots.length) this.rehash(this.players);
    return s;
  }

  /** The time of the slot's find of treasure `tr` (an index), or undefined. */
  findTime(slot: number, tr: number): number | undefined {
    for (let f = this.head[slot]!; f !== -1; f = this.fNext[f]!) if (this.fTr[f] === tr) return this.fT[f];
    return undefined;
  }

  /** Adds a find, as the fold does: it is the slot's latest (hunt-fold.ts applyFind). */
  addFind(slot: number, tr: number, t: number, server: number): void {
    const f = this.finds++;
    if (f >= this.fT.length) this.growFinds(2 * f);
    this.fPlayer[f] = slot;
    this.fTr[f] = tr;
    this.fT[f] = t;
    this.fServer[f] = server;
    this.fNext[f] = this.head[slot]!;
    this.head[slot] = f;
    this.found[slot]!++;
    this.lt[slot] = t;
    this.ls[slot] = server;
  }

  /**
   * Adds a player's stored finds (those the slot lacks): [server of the latest find, its
   * time, treasure, time, ...] (player-buckets.ts), then sets the slot's latest find time
   * and server to the stored ones.
   */
  loadStored(p: string, a: readonly (string | number)[]): number {
    const s = this.slot(p);
    const server = this.server(String(a[0]));
    for (let i = 2; i + 1 < a.length; i += 2) {
      const tr = this.treasure(String(a[i]));
      if (this.findTime(s, tr) === undefined) this.addFind(s, tr, Number(a[i + 1]), server);
    }
    this.lt[s] = Number(a[1]);
    this.ls[s] = server;
    return s;
  }

  /** The same, from the HuntState form. */
  load(p: string, pf: PlayerFinds): number {
    const a: (string | number)[] = [pf.ls, pf.lt];
    for (const tr in pf.f) a.push(tr, pf.f[tr]!);
    return this.loadStored(p, a);
  }

  /** Every find so far counts as loaded history; those added from now on are the window's. */
  markHistory(): void {
    this.history = this.finds;
  }

  /** A slot's finds as the HuntState form. */
  playerFinds(slot: number): PlayerFinds {
    const f: Record<string, number> = {};
    const order: number[] = [];
    for (let x = this.head[slot]!; x !== -1; x = this.fNext[x]!) order.push(x);
    for (let i = order.length - 1; i >= 0; i--) f[this.treasures[this.fTr[order[i]!]!]!] = this.fT[order[i]!]!;
    const ls = this.ls[slot]!;
    return { f, lt: this.lt[slot]!, ls: ls === -1 ? '' : this.servers[ls]! };
  }

  private growPlayers(n: number): void {
    const cap = Math.max(16, n);
    this.lt = grow(this.lt, cap);
    this.ls = grow(this.ls, cap);
    this.head = grow(this.head, cap);
    this.found = grow(this.found, cap);
    if (this.ids.length < cap) {
      // Assigned by index rather than pushed: pushing 230 k ids cost three times as much here.
      const ids = new Array<string>(cap);
      for (let i = 0; i < this.players; i++) ids[i] = this.ids[i]!;
      this.ids = ids;
    }
  }

  private growFinds(n: number): void {
    const cap = Math.max(16, n);
    this.fPlayer = grow(this.fPlayer, cap);
    this.fTr = grow(this.fTr, cap);
    this.fT = grow(this.fT, cap);
    this.fServer = grow(this.fServer, cap);
    this.fNext = grow(this.fNext, cap);
  }

  /** A slot table for `players` at a quarter full at most. */
  private rehash(players: number): void {
    let size = 64;
    while (size < 4 * players) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    for (let s = 0; s < this.players; s++) {
      let h = fnv1a(this.ids[s]!) & this.mask;
      while (this.slots[h] !== -1) h = (h + 1) & this.mask;
      this.slots[h] = s;
    }
  }
}

function grow<T extends Float64Array | Int32Array>(a: T, n: number): T {
  if (a.length >= n) return a;
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}
