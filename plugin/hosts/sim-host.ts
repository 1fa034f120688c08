/**
 * The sim host: a game server populated by bots that walk between the treasures of the
 * loaded hunts, on the wall clock. Deterministic for a seed (positions, choices), so a
 * demo run is reproducible apart from timing.
 */
import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { prizeIdentity, type HuntRules, type PrizeKey, type Vec3 } from '../../protocol/index.js';
import type { Host, Sample } from '../host.js';

/** mulberry32: a small, fast, seedable PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Target {
  region: string;
  at: Vec3;
  radius: number;
}

interface Bot {
  id: string;
  perms: Set<string>;
  region: string;
  pos: Vec3;
  target: Target | undefined;
  /** blocks per second */
  speed: number;
  lingerUntil: number;
  online: boolean;
}

export interface SimOptions {
  bots: number;
  /** the first bot of each server holds cairn.admin */
  seed: number;
  /** prefix for bot names, e.g. "a" -> a-bot-01 */
  namePrefix: string;
  /** one bot in this many moves impossibly fast (a cheater the maxSpeed rule flags); 0 = none */
  cheaterEvery?: number;
  /**
   * The game's own record of what it gave: one NDJSON line per give, appended and synced
   * before giveItem returns (what a game's inventory database would hold). Crash tests count
   * gives here, apart from the plugin's ledger. @default undefined: no record
   */
  givesFile?: string;
  /**
   * Give each prize at most once, by its key, using `givesFile` as the set of prizes applied
   * (Host.idempotentGive). @default false
   */
  idempotentGive?: boolean;
}

/** One line of the sim host's gives file. */
export interface SimGive {
  player: string;
  item: string;
  count: number;
  hunt?: string;
  reason?: string;
}

/** Reads a gives file (a torn last line, from a crash mid-append, is ignored). */
export function readGives(file: string): SimGive[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  if (!text.endsWith('\n')) lines.pop();
  return lines.filter(Boolean).map((l) => JSON.parse(l) as SimGive);
}

export class SimHost implements Host {
  private readonly bots: Bot[] = [];
  private readonly random: () => number;
  private readonly targets: Target[];
  readonly inventory = new Map<string, Map<string, number>>();
  readonly said: { player: string; message: string }[] = [];
  readonly idempotentGive: boolean;
  /** prizes applied (from the gives file), when giving idempotently */
  private readonly applied = new Set<string>();
  private givesFd: number | undefined;

  constructor(
    readonly serverId: string,
    hunts: HuntRules[],
    opts: SimOptions,
    private readonly clock: () => number = Date.now,
  ) {
    this.random = rng(opts.seed);
    this.idempotentGive = opts.idempotentGive === true;
    if (this.idempotentGive && !opts.givesFile) throw new Error('sim host: idempotentGive needs a givesFile to keep the applied prizes in');
    if (opts.givesFile) {
      for (const g of readGives(opts.givesFile)) if (g.hunt !== undefined && g.reason !== undefined) this.applied.add(prizeIdentity({ hunt: g.hunt, reason: g.reason }));
      this.givesFd = openSync(opts.givesFile, 'a');
    }
    this.targets = hunts.flatMap((h) => h.treasures.map((t) => ({ region: t.region, at: t.at, radius: t.radius })));
    for (let i = 0; i < opts.bots; i++) {
      const id = `${opts.namePrefix}-${i === 0 ? 'admin' : `bot-${String(i).padStart(2, '0')}`}`;
      const start = this.targets[Math.floor(this.random() * this.targets.length)]!;
      const cheater = opts.cheaterEvery ? i > 0 && i % opts.cheaterEvery === 0 : false;
      this.bots.push({
        id,
        perms: new Set(i === 0 ? ['cairn.admin', 'cairn.play'] : ['cairn.play']),
        region: start.region,
        pos: [start.at[0] + (this.random() - 0.5) * 80, start.at[1], start.at[2] + (this.random() - 0.5) * 80],
        target: undefined,
        speed: cheater ? 400 : 4 + this.random() * 4,
        lingerUntil: 0,
        online: false,
      });
    }
  }

  get admin(): string {
    return this.bots[0]!.id;
  }

  now(): number {
    return this.clock();
  }

  isOnline(player: string): boolean {
    return this.bots.some((b) => b.id === player && b.online);
  }

  hasPermission(player: string, node: string): boolean {
    return this.bots.find((b) => b.id === player)?.perms.has(node) ?? false;
  }

  giveItem(player: string, item: string, count: number, prize?: PrizeKey): boolean {
    if (!this.isOnline(player)) return false;
    const identity = prize ? prizeIdentity(prize) : undefined;
    if (this.idempotentGive && identity !== undefined && this.applied.has(identity)) return true;
    if (this.givesFd !== undefined) {
      writeSync(this.givesFd, `${JSON.stringify({ player, item, count, ...prize })}\n`);
      fdatasyncSync(this.givesFd);
    }
    if (identity !== undefined) this.applied.add(identity);
    let inv = this.inventory.get(player);
    if (!inv) this.inventory.set(player, (inv = new Map()));
    inv.set(item, (inv.get(item) ?? 0) + count);
    return true;
  }

  tell(player: string, message: string): void {
    this.said.push({ player, message });
  }

  /** Closes the gives file. */
  close(): void {
    if (this.givesFd !== undefined) closeSync(this.givesFd);
    this.givesFd = undefined;
  }

  /** Every bot joins. */
  joinAll(): Sample[] {
    const t = this.now();
    return this.bots.map((b) => {
      b.online = true;
      return { type: 'join', t, player: b.id };
    });
  }

  leaveAll(): Sample[] {
    const t = this.now();
    return this.bots
      .filter((b) => b.online)
      .map((b) => {
        b.online = false;
        return { type: 'leave', t, player: b.id };
      });
  }

  command(player: string, line: string): Sample {
    return { type: 'command', t: this.now(), player, line };
  }

  /** Advances every walking bot by dtMs and returns their move samples. */
  step(dtMs: number): Sample[] {
    const t = this.now();
    const out: Sample[] = [];
    for (const b of this.bots) {
      if (!b.online || t < b.lingerUntil) continue;
      if (!b.target) {
        b.target = this.targets[Math.floor(this.random() * this.targets.length)]!;
        if (b.target.region !== b.region) {
          // Another region: bots travel there by portal, arriving some way off the treasure.
          b.region = b.target.region;
          b.pos = [b.target.at[0] + (this.random() - 0.5) * 60, b.target.at[1], b.target.at[2] + (this.random() - 0.5) * 60];
          out.push({ type: 'move', t, player: b.id, region: b.region, at: [...b.pos] as Vec3 });
          continue;
        }
      }
      const [tx, ty, tz] = b.target.at;
      const dx = tx - b.pos[0];
      const dy = ty - b.pos[1];
      const dz = tz - b.pos[2];
      const dist = Math.hypot(dx, dy, dz);
      const stepLen = (b.speed * dtMs) / 1000;
      if (dist <= stepLen) {
        b.pos = [tx, ty, tz];
        b.target = undefined;
        b.lingerUntil = t + 500 + this.random() * 1500;
      } else {
        const wobble = (this.random() - 0.5) * 0.3;
        b.pos = [b.pos[0] + (dx / dist) * stepLen + wobble, b.pos[1] + (dy / dist) * stepLen, b.pos[2] + (dz / dist) * stepLen - wobble];
      }
      out.push({ type: 'move', t, player: b.id, region: b.region, at: [...b.pos] as Vec3 });
    }
    return out;
  }
}
