/**
 * Per-player latest continuous state (region and position) with field-level dirty
 * tracking. A flush emits, for each dirty player only, the fields whose quantized value
 * moved at least `minChange` since they were last sent; a player's id travels once, in
 * the join event, and deltas carry the compact per-session index `i` instead.
 *
 * Delta values are positions in blocks rounded to the `quantum` grid (0.05 -> 12.35, not
 * 247 quanta); the batch encoder writes them as quanta into the batch's moves block
 * (protocol/moves.ts), which carries the quantum, so a reader needs no configuration.
 *
 * Cost: a sample is O(1) and allocates nothing once its player is known (the state record
 * is reused and the dirty list only grows to the number of players); a flush is
 * O(dirty players) and allocates one DeltaEvent per player it emits.
 *
 * A flush can be split (issue 3: a flush must never hold the game's event loop for long):
 * `beginFlush()` takes the dirty list as it is, `flushSome(n)` emits up to n of those players
 * at a time, and players moving in between are handled exactly: one still waiting in the
 * taken list is emitted with its latest state when its turn comes; one already emitted goes
 * to the next flush. `abortFlush()` hands the players not yet emitted back (backpressure).
 */
import { checkQuantum, DEFAULT_QUANTUM, MAX_QUANTA, type DeltaEvent, type WireEvent } from '../protocol/index.js';

export interface CoalescerOptions {
  /** Grid positions are rounded to, in blocks. @default 0.05 */
  quantum?: number;
  /** A position field is re-sent only when its quantized value moved at least this far (blocks) from the value last sent. @default 0.05 */
  minChange?: number;
}

const F_REGION = 1;
const F_X = 2;
const F_Y = 4;
const F_Z = 8;
const F_ALL = F_REGION | F_X | F_Y | F_Z;

interface PlayerState {
  readonly i: number;
  /** time of the latest sample */
  t: number;
  region: string | undefined;
  /** latest position in integer quanta */
  qx: number;
  qy: number;
  qz: number;
  /** last sent values; NaN (or undefined region) until first sent */
  sentRegion: string | undefined;
  sx: number;
  sy: number;
  sz: number;
  dirty: number;
  /** already in the dirty list */
  queued: boolean;
  /** false once the player left; a stale dirty-list entry is then skipped */
  live: boolean;
}

export class Coalescer {
  readonly quantum: number;
  readonly minChange: number;
  private readonly players = new Map<string, PlayerState>();
  private dirtyList: PlayerState[] = [];
  /** players taken by beginFlush() and not emitted yet, from `takenPos` on */
  private taken: PlayerState[] = [];
  private takenPos = 0;
  /** 1/quantum when that is an integer (0.05 -> 20): exact division gives clean decimals on the wire */
  private readonly inv: number;
  private readonly minQ: number;
  private nextIndex = 1;
  /**
   * Coordinates a moves block cannot carry (NaN, infinite, beyond MAX_QUANTA quanta: far
   * outside any game world), taken as 0 or the nearest value it can carry; counted here.
   */
  clamped = 0;

  constructor(opts: CoalescerOptions = {}) {
    const quantum = opts.quantum ?? DEFAULT_QUANTUM;
    const minChange = opts.minChange ?? DEFAULT_QUANTUM;
    checkQuantum(quantum);
    if (!(minChange >= 0) || !Number.isFinite(minChange)) throw new RangeError(`coalescer minChange must be a non-negative number, got ${minChange}`);
    this.quantum = quantum;
    this.minChange = minChange;
    const inv = 1 / quantum;
    this.inv = Math.abs(Math.round(inv) - inv) < 1e-9 ? Math.round(inv) : 0;
    // Comparing in quanta; the epsilon keeps 0.05/0.05 from landing just above 1.
    this.minQ = Math.max(minChange / quantum - 1e-9, 0);
  }

  /** Number of players with a session. */
  get size(): number {
    return this.players.size;
  }

  /** Number of players a flush would look at (an upper bound on the deltas it emits). */
  get dirtyCount(): number {
    return this.dirtyList.length + this.taken.length - this.takenPos;
  }

  /** Players taken by beginFlush() that flushSome() has not emitted yet. */
  get flushRemaining(): number {
    return this.taken.length - this.takenPos;
  }

  /**
   * Starts a session and returns the player's index. Indices are never reused within a
   * coalescer (one per plugin epoch), so a delta can never be attributed to the wrong player,
   * even when deltas are merged across batches under backpressure.
   */
  join(player: string, t: number): number {
    const old = this.players.get(player);
    if (old) old.live = false;
    const s: PlayerState = {
      i: this.nextIndex++,
      t,
      region: undefined,
      qx: NaN,
      qy: NaN,
      qz: NaN,
      sentRegion: undefined,
      sx: NaN,
      sy: NaN,
      sz: NaN,
      dirty: 0,
      queued: false,
      live: true,
    };
    this.players.set(player, s);
    return s.i;
  }

  /** Ends the session; its unsent state is dropped (the leave event says the player is gone). */
  leave(player: string): boolean {
    const s = this.players.get(player);
    if (!s) return false;
    s.live = false;
    this.players.delete(player);
    return true;
  }

  indexOf(player: string): number | undefined {
    return this.players.get(player)?.i;
  }

  /** Records the latest position; false when the player has no session (call join first). */
  move(player: string, t: number, region: string, x: number, y: number, z: number): boolean {
    const s = this.players.get(player);
    if (!s) return false;
    s.t = t;
    s.region = region;
    const qx = this.quantize(x);
    const qy = this.quantize(y);
    const qz = this.quantize(z);
    s.qx = qx;
    s.qy = qy;
    s.qz = qz;
    let mask: number;
    if (region !== s.sentRegion) {
      // A position means nothing without its region: a region change re-sends all of it.
      mask = F_ALL;
    } else {
      mask = 0;
      if (this.moved(qx, s.sx)) mask |= F_X;
      if (this.moved(qy, s.sy)) mask |= F_Y;
      if (this.moved(qz, s.sz)) mask |= F_Z;
    }
    s.dirty = mask;
    if (mask !== 0 && !s.queued) {
      s.queued = true;
      this.dirtyList.push(s);
    }
    return true;
  }

  /** Deltas of every dirty player (only the changed fields), appended to `out`. */
  flush(): DeltaEvent[];
  flush<T extends WireEvent>(out: Array<T | DeltaEvent>): Array<T | DeltaEvent>;
  flush(out: DeltaEvent[] = []): DeltaEvent[] {
    this.beginFlush();
    this.flushSome(Infinity, out);
    return out;
  }

  /**
   * Takes the dirty players as they are now for flushSome(). Players still taken from an
   * earlier flush stay first in line.
   */
  beginFlush(): void {
    const list = this.dirtyList;
    if (list.length === 0) return;
    if (this.takenPos === this.taken.length) {
      // Swap the two lists: no allocation per flush.
      const spare = this.taken;
      spare.length = 0;
      this.takenPos = 0;
      this.taken = list;
      this.dirtyList = spare;
      return;
    }
    for (let k = 0; k < list.length; k++) this.taken.push(list[k]!);
    list.length = 0;
  }

  /**
   * Emits the deltas of up to `maxPlayers` taken players (each with its state as it is now),
   * appended to `out`; returns the number of deltas emitted.
   */
  flushSome<T extends WireEvent>(maxPlayers: number, out: Array<T | DeltaEvent>): number {
    const list = this.taken;
    const end = Math.min(list.length, this.takenPos + maxPlayers);
    let emitted = 0;
    for (let k = this.takenPos; k < end; k++) {
      const s = list[k]!;
      s.queued = false;
      const mask = s.dirty;
      if (!s.live || mask === 0) continue;
      s.dirty = 0;
      const d: DeltaEvent = { k: 'delta', t: s.t, i: s.i };
      if (mask & F_REGION) {
        d.region = s.region!;
        s.sentRegion = s.region;
      }
      if (mask & F_X) {
        d.x = this.toWire(s.qx);
        s.sx = s.qx;
      }
      if (mask & F_Y) {
        d.y = this.toWire(s.qy);
        s.sy = s.qy;
      }
      if (mask & F_Z) {
        d.z = this.toWire(s.qz);
        s.sz = s.qz;
      }
      out.push(d);
      emitted++;
    }
    this.takenPos = end;
    if (end === list.length) {
      list.length = 0;
      this.takenPos = 0;
    }
    return emitted;
  }

  /** Hands the taken players not emitted yet back to the dirty list (they keep their state). */
  abortFlush(): void {
    const list = this.taken;
    for (let k = this.takenPos; k < list.length; k++) this.dirtyList.push(list[k]!);
    list.length = 0;
    this.takenPos = 0;
  }

  /** Value in blocks on the quantum grid, as it goes on the wire. */
  wireValue(v: number): number {
    return this.toWire(this.quantize(v));
  }

  private quantize(v: number): number {
    // `+ 0` turns -0 into 0, so -0.01 and 0.01 both go on the grid as 0.
    const q = (this.inv !== 0 ? Math.round(v * this.inv) : Math.round(v / this.quantum)) + 0;
    if (Math.abs(q) <= MAX_QUANTA) return q;
    this.clamped++;
    return q > 0 ? MAX_QUANTA : q < 0 ? -MAX_QUANTA : 0;
  }

  private toWire(q: number): number {
    return this.inv !== 0 ? q / this.inv : q * this.quantum;
  }

  /** Changed, and by at least minChange; NaN (never sent) counts as changed. */
  private moved(q: number, sent: number): boolean {
    const d = Math.abs(q - sent);
    return d !== 0 && !(d < this.minQ);
  }
}
