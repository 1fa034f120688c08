/**
 * Spatial index of the treasures of loaded hunts, and per-player session state that
 * turns raw move samples into exact entry events. O(1) per sample: a grid per region,
 * so a sample is tested only against treasures whose bounding box touches its cell;
 * the windowed speed rule costs O(1) amortized per sample (plugin/speed-run.ts).
 */
import { speedWindowMs, type HuntRules, type Vec3 } from '../protocol/index.js';
import { SpeedRun } from './speed-run.js';

export interface IndexedTreasure {
  hunt: string;
  id: string;
  region: string;
  x: number;
  y: number;
  z: number;
  /** radius squared, for the inside test */
  r2: number;
  /** the hunt's maxSpeed in blocks per second, or Infinity */
  maxSpeed: number;
  /** the hunt's speedWindowMs, and its position in TreasureIndex.speedWindows */
  speedWindowMs: number;
  speedSlot: number;
  /** dense index, for the per-player inside set */
  slot: number;
}

export interface Entry {
  treasure: IndexedTreasure;
  suspect: boolean;
}

const CELL = 16;
const OFFSET = 1 << 20;
const cellKey = (cx: number, cz: number) => (cx + OFFSET) * 2 ** 21 + (cz + OFFSET);

interface PlayerTrack {
  region: string;
  /** the samples of the current region run the speed rule may still use */
  run: SpeedRun;
  /** slots of treasures the previous sample was inside */
  inside: number[];
  /** the previous sample's position, so a new index can tell what it was inside */
  x: number;
  y: number;
  z: number;
}

/** Inside test: 3-D Euclidean distance <= radius, compared squared (exact on the radius). */
export function insideTreasure(t: { x: number; y: number; z: number; r2: number }, x: number, y: number, z: number): boolean {
  const dx = x - t.x;
  const dy = y - t.y;
  const dz = z - t.z;
  return dx * dx + dy * dy + dz * dz <= t.r2;
}

export class TreasureIndex {
  private readonly grids = new Map<string, Map<number, IndexedTreasure[]>>();
  readonly treasures: IndexedTreasure[] = [];
  /** the distinct speedWindowMs of the hunts with a maxSpeed */
  readonly speedWindows: number[] = [];

  constructor(hunts: readonly HuntRules[]) {
    for (const h of hunts) {
      const maxSpeed = h.maxSpeed ?? Infinity;
      const windowMs = speedWindowMs(h);
      let speedSlot = -1;
      if (h.maxSpeed !== undefined) {
        speedSlot = this.speedWindows.indexOf(windowMs);
        if (speedSlot < 0) speedSlot = this.speedWindows.push(windowMs) - 1;
      }
      for (const tr of h.treasures) {
        const [x, y, z] = tr.at;
        const it: IndexedTreasure = { hunt: h.id, id: tr.id, region: tr.region, x, y, z, r2: tr.radius * tr.radius, maxSpeed, speedWindowMs: windowMs, speedSlot, slot: this.treasures.length };
        this.treasures.push(it);
        let grid = this.grids.get(tr.region);
        if (!grid) this.grids.set(tr.region, (grid = new Map()));
        for (let cx = Math.floor((x - tr.radius) / CELL); cx <= Math.floor((x + tr.radius) / CELL); cx++) {
          for (let cz = Math.floor((z - tr.radius) / CELL); cz <= Math.floor((z + tr.radius) / CELL); cz++) {
            const key = cellKey(cx, cz);
            const list = grid.get(key);
            if (list) list.push(it);
            else grid.set(key, [it]);
          }
        }
      }
    }
  }

  candidates(region: string, x: number, z: number): readonly IndexedTreasure[] | undefined {
    return this.grids.get(region)?.get(cellKey(Math.floor(x / CELL), Math.floor(z / CELL)));
  }
}

const NONE: number[] = [];

/**
 * Per-player trigger state. A session starts at join and ends at leave; the first
 * sample of a session has no previous sample, so being inside counts as an entry.
 *
 * Speed (DESIGN.md "Hunt semantics", `maxSpeed`): a session's samples form region runs;
 * a join or a region change starts one, and its first sample is never suspect. Within a
 * run a player's clock does not go back: a sample stamped earlier than the one before
 * (a host clock stepped back; a trace cannot do that) counts as stamped with the same
 * time. A suspect sample still becomes the previous sample for entries and a possible
 * reference for later samples.
 */
export class Triggers {
  private readonly players = new Map<string, PlayerTrack>();
  suspects = 0;

  constructor(private index: TreasureIndex) {}

  /** Swaps the treasure set (hunt reload); sessions keep their last position and run. */
  setIndex(index: TreasureIndex): void {
    this.index = index;
    // A player standing in a treasure when the rules change has not entered it: the
    // previous sample is measured against the new treasures, not forgotten.
    for (const p of this.players.values()) {
      p.inside = this.insideSlots(p.region, p.x, p.y, p.z);
      p.run.setWindows(index.speedWindows.length);
    }
  }

  private insideSlots(region: string, x: number, y: number, z: number): number[] {
    let inside: number[] = NONE;
    for (const c of this.index.candidates(region, x, z) ?? []) {
      if (!insideTreasure(c, x, y, z)) continue;
      if (inside === NONE) inside = [];
      inside.push(c.slot);
    }
    return inside;
  }

  join(player: string): void {
    this.players.delete(player);
  }

  leave(player: string): void {
    this.players.delete(player);
  }

  /** Returns the treasures this sample entered (empty most of the time; never allocates then). */
  move(player: string, t: number, region: string, at: Vec3, out: Entry[]): void {
    const [x, y, z] = at;
    const windows = this.index.speedWindows;
    let prev = this.players.get(player);
    // The sample's place in its region run: the first of a run is never suspect.
    let firstOfRun = false;
    if (!prev) {
      firstOfRun = true;
      prev = { region, run: new SpeedRun(t, x, y, z, windows.length), inside: NONE, x, y, z };
      this.players.set(player, prev);
    } else if (prev.region !== region) {
      firstOfRun = true;
      prev.region = region;
      prev.run.begin(t, x, y, z);
    } else {
      if (t < prev.run.lastT) t = prev.run.lastT;
      prev.run.advance(t, windows);
    }
    const wasInside = prev.inside;
    const cands = this.index.candidates(region, x, z);
    let inside: number[] = NONE;
    if (cands) {
      for (const c of cands) {
        if (!insideTreasure(c, x, y, z)) continue;
        if (inside === NONE) inside = [];
        inside.push(c.slot);
        if (wasInside.includes(c.slot)) continue;
        const suspect = !firstOfRun && c.speedSlot >= 0 && prev.run.suspect(c.speedSlot, c.speedWindowMs, c.maxSpeed, t, x, y, z);
        if (suspect) this.suspects++;
        out.push({ treasure: c, suspect });
      }
    }
    if (!firstOfRun) prev.run.push(t, x, y, z);
    prev.inside = inside;
    prev.x = x;
    prev.y = y;
    prev.z = z;
  }
}
