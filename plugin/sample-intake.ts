/**
 * Where raw samples come in (`CairnPlugin.accept`): each is checked, fed to the coalescer
 * (deltas) and the triggers (treasure entries), and turned into discrete events stamped with
 * this epoch's identity. A bad sample is counted and logged (rate-limited), never thrown:
 * the host calls this from the game's tick.
 */
import type { RulesSwitch } from './rules-switch.js';
import { ID_PATTERN, ID_RE, type DiscreteEvent, type EnterEvent } from '../protocol/index.js';
import { logger } from '../common/log.js';
import type { Coalescer } from './coalescer.js';
import type { EventDraft, HuntCommands } from './commands.js';
import type { Sample } from './host.js';
import type { SuspectRecord } from './hunt-subcommands.js';
import type { PluginStats } from './metrics.js';
import type { Shipper } from './shipper.js';
import type { Entry, Triggers } from './triggers.js';

const log = logger('plugin');

/** Strings on the wire are 1-256 characters (protocol/codec.ts); a longer one would get the whole batch refused. */
const MAX_WIRE_STRING = 256;
/** `hunt suspects` lists at most this many recent suspect entries per server. */
const SUSPECT_LOG_SIZE = 1000;

export interface SampleIntakeOptions {
  epoch: number;
  coalescer: Coalescer;
  triggers: Triggers;
  shipper: Shipper;
  stats: PluginStats;
  /** A player joined: give them any prizes held for them. */
  onJoin(player: string): void;
  /** A player left. */
  onLeave?(player: string): void;
  /** switches the triggers to reloaded rules at the worker's window boundary */
  rulesSwitch?: RulesSwitch;
}

export class SampleIntake {
  /** the latest suspect entries on this server, for `hunt suspects` */
  readonly suspectLog: SuspectRecord[] = [];
  /** set once the commands exist (they emit through this intake) */
  commands: HuntCommands | undefined;
  private readonly o: SampleIntakeOptions;
  private readonly entries: Entry[] = [];
  /** the per-epoch counter of discrete events */
  private n = 0;
  private warnedLate = false;

  constructor(opts: SampleIntakeOptions) {
    this.o = opts;
  }

  /** Stamps a discrete event with its identity (epoch, per-epoch counter) and queues it for the next flush. */
  queueEvent(draft: EventDraft): void {
    this.o.shipper.queue({ ...draft, e: this.o.epoch, n: ++this.n } as DiscreteEvent);
  }

  /** Feeds one raw sample in. O(1); never throws. */
  accept(sample: Sample): void {
    const s = this.o.stats;
    s.samples++;
    try {
      const t = sample.t;
      const player = sample.player;
      if (typeof t !== 'number' || !Number.isFinite(t)) return this.bad(sample, 't must be a finite number');
      if (typeof player !== 'string') return this.bad(sample, 'player must be a string');
      if (t <= this.o.shipper.claimedWatermark) this.late(sample);
      switch (sample.type) {
        case 'move':
          return this.move(sample.player, t, sample.region, sample.at, sample);
        case 'join':
          if (!ID_RE.test(player)) return this.bad(sample, `player must match ${ID_PATTERN}`);
          return this.join(player, t);
        case 'leave':
          if (!ID_RE.test(player)) return this.bad(sample, `player must match ${ID_PATTERN}`);
          this.queueEvent({ k: 'leave', t, p: player });
          this.o.triggers.leave(player);
          this.o.coalescer.leave(player);
          this.o.onLeave?.(player);
          return;
        case 'command':
          if (player.length === 0 || player.length > MAX_WIRE_STRING) return this.bad(sample, `player must be 1-${MAX_WIRE_STRING} characters`);
          if (typeof sample.line !== 'string') return this.bad(sample, 'line must be a string');
          this.commands?.handle(player, sample.line, t);
          return;
        case 'inventory':
          // Counted only: DeltaEvent has no inventory field, so there is nothing to send yet.
          return;
        default:
          return this.bad(sample, `unknown sample type ${JSON.stringify((sample as { type?: unknown }).type)}`);
      }
    } catch (err) {
      this.bad(sample, err instanceof Error ? err.message : String(err));
    }
  }

  private join(player: string, t: number): void {
    this.o.triggers.join(player);
    const i = this.o.coalescer.join(player, t);
    this.queueEvent({ k: 'join', t, p: player, i });
    this.o.onJoin(player);
  }

  private move(player: string, t: number, region: unknown, at: unknown, sample: Sample): void {
    const { coalescer, triggers } = this.o;
    if (typeof region !== 'string' || region.length === 0 || region.length > MAX_WIRE_STRING) return this.bad(sample, `region must be 1-${MAX_WIRE_STRING} characters`);
    if (!Array.isArray(at) || at.length !== 3) return this.bad(sample, 'at must be [x, y, z]');
    const x = at[0] as unknown;
    const y = at[1] as unknown;
    const z = at[2] as unknown;
    if (typeof x !== 'number' || typeof y !== 'number' || typeof z !== 'number' || !Number.isFinite(x + y + z)) return this.bad(sample, 'at must be three finite numbers');
    if (!coalescer.move(player, t, region, x, y, z)) {
      // A player already online when the plugin started: open the session here.
      if (!ID_RE.test(player)) return this.bad(sample, `player must match ${ID_PATTERN}`);
      this.join(player, t);
      coalescer.move(player, t, region, x, y, z);
    }
    const entries = this.entries;
    const sw = this.o.rulesSwitch;
    if (sw && t >= sw.nextAt) sw.due(t);
    triggers.move(player, t, region, at as [number, number, number], entries);
    if (entries.length === 0) return;
    for (const { treasure, suspect } of entries) {
      const ev: EnterEvent = { k: 'enter', e: this.o.epoch, n: ++this.n, t, p: player, hunt: treasure.hunt, tr: treasure.id, region, at: [x, y, z] };
      if (suspect) {
        ev.sus = 1;
        this.o.stats.suspects++;
        this.suspectLog.push({ player, hunt: treasure.hunt, treasure: treasure.id, t });
        if (this.suspectLog.length > SUSPECT_LOG_SIZE) this.suspectLog.shift();
      }
      this.o.shipper.queue(ev);
    }
    entries.length = 0;
  }

  private bad(sample: unknown, why: string): void {
    const n = ++this.o.stats.badSamples;
    // The first few, then one in a thousand: a broken host must not flood the log.
    if (n <= 10 || n % 1000 === 0) log.warn({ why, sample: safePreview(sample), count: n }, 'bad sample ignored');
  }

  private late(sample: Sample): void {
    this.o.stats.lateSamples++;
    if (!this.warnedLate) {
      this.warnedLate = true;
      log.warn({ t: sample.t, watermark: this.o.shipper.claimedWatermark, type: sample.type }, 'sample at or before a watermark already sent; the host must flush only up to times it has fed (counted in lateSamples)');
    }
  }
}

function safePreview(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 200) ?? String(v);
  } catch {
    return String(v);
  }
}
