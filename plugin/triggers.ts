/**
 * Spatial index of the treasures of loaded hunts, and per-player session state that
 * turns raw move samples into exact entry events. O(1) per sample: a grid per region,
 * so a sample is tested only against treasures whose bounding box touches its cell.
 */
import type { HuntRules, Vec3 } from '../protocol/index.js';

export interface IndexedTreasure {
  hunt: string;
  id: string;
  region: string;
  x: number;
  y: number;
  z: number;
  /** radius squared, for the inside test */
  r2: number;
  /** the hunt's maxSpeed in blocks per ms, or Infinity */
  maxSpeedPerMs: number;
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
  x: number;
  y: number;
  z: number;
  t: number;
  /** slots of treasures the previous sample was inside */
  inside: number[];
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

  constructor(hunts: readonly HuntRules[]) {
    for (const h of hunts) {
      const maxSpeedPerMs = h.maxSpeed !== undefined ? h.maxSpeed / 1000 : Infinity;
      for (const tr of h.treasures) {
        const [x, y, z] = tr.at;
        const it: IndexedTreasure = { hunt: h.id, id: tr.id, region: tr.region, x, y, z, r2: tr.radius * tr.radius, maxSpeedPerMs, slot: this.treasures.length };
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
 */
export class Triggers {
  private readonly players = new Map<string, PlayerTrack>();
  suspects = 0;

  constructor(private index: TreasureIndex) {}

  /** Swaps the treasure set (hunt reload); sessions keep their last position. */
  setIndex(index: TreasureIndex): void {
    this.index = index;
    for (const p of this.players.values()) p.inside = NONE;
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
    const prev = this.players.get(player);
    const cands = this.index.candidates(region, x, z);
    let inside: number[] = NONE;
    if (cands) {
      for (const c of cands) {
        if (!insideTreasure(c, x, y, z)) continue;
        if (inside === NONE) inside = [];
        inside.push(c.slot);
        const wasInside = prev !== undefined && prev.inside.includes(c.slot);
        if (wasInside) continue;
        let suspect = false;
        if (c.maxSpeedPerMs !== Infinity && prev !== undefined && prev.region === region) {
          const dx = x - prev.x;
          const dy = y - prev.y;
          const dz = z - prev.z;
          const dist = Math.sqrt(dx * dx + dy * dy + dz * dz);
          const dt = t - prev.t;
          suspect = dt <= 0 ? dist > 0 : dist / dt > c.maxSpeedPerMs;
        }
        if (suspect) this.suspects++;
        out.push({ treasure: c, suspect });
      }
    }
    if (prev) {
      prev.region = region;
      prev.x = x;
      prev.y = y;
      prev.z = z;
      prev.t = t;
      prev.inside = inside;
    } else {
      this.players.set(player, { region, x, y, z, t, inside });
    }
  }
}
