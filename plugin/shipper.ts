/**
 * Between the plugin's samples and the link: the discrete events waiting for the next flush,
 * the flush itself, and the spill file. A flush takes the discrete events queued so far and
 * the coalescer's deltas, forms batches in the outbox and hands them to the link.
 *
 * Split flushes (with 10 k players a whole flush would hold the game's event loop for
 * milliseconds, and the game's tick waits on it): the timer's flush runs in slices of at
 * most `sliceEvents` events, ended early once `sliceMs` is spent, one per event-loop turn
 * (setImmediate), each forming and sending its own batch. The watermark rule holds across
 * slices: every batch but the last of a flush carries the previous watermark, and the last
 * one, formed only once nothing queued before it is left, carries the flush's time. A
 * discrete event queued while a flush is under way rides in one of its later slices (or the
 * next flush), never behind a batch that claims its time, unless the host stamped it at or
 * before a watermark already sent (counted as a late sample). `flushNow` runs a whole flush
 * at once (replay on trace time, tests, stop), finishing a split one first.
 *
 * Over the outbox's bound, a flush's discrete events go to the spill file instead
 * (spill/spillway.ts), and nothing newer is formed while events wait there.
 */
import type { DiscreteEvent, WireEvent } from '../protocol/index.js';
import type { Coalescer } from './coalescer.js';
import type { Link } from './link.js';
import type { Outbox } from './outbox.js';
import type { Spill } from './spill/spill-file.js';
import { Spillway } from './spill/spillway.js';

export interface ShipperOptions {
  coalescer: Coalescer;
  outbox: Outbox;
  link: Link;
  spill: Spill;
  /** The host's clock; undefined when it did not give a finite number (the flush is skipped). */
  clock: () => number | undefined;
  heartbeatMs: number;
  /** Most events one slice of a split flush handles. */
  sliceEvents: number;
  /**
   * A slice of a split flush stops taking events once it has run this long (ms); the events
   * it took are still formed and sent. @default Infinity (count only)
   */
  sliceMs?: number;
  /** The clock slices are timed with. @default performance.now */
  perfNow?: () => number;
  /** Called with the duration of every slice (a whole flushNow is one): how long the event loop was held. */
  onPause: (ms: number) => void;
  /** Called when a flush completed. */
  onFlushed: () => void;
}

/** Counters of what the shipper put into batches (each event once, resends aside). */
export interface ShipperCounts {
  discrete: number;
  deltas: number;
  batches: number;
  /** discrete events written to the spill file */
  spilled: number;
}

/**
 * Events a timed slice takes between two looks at the clock: small enough that a slice
 * overruns its budget by little, large enough that reading the clock costs nothing next to
 * emitting the events (~0.5 us per delta, bench/plugin-hot-path).
 */
const CLOCK_CHECK_EVENTS = 16;

interface FlushJob {
  /** the watermark the flush's last batch claims */
  readonly wm: number;
  readonly force: boolean;
  /**
   * How many discrete events were queued when the job took its first slice (undefined
   * before). The job ends once those and the deltas taken then are formed, so a stream of
   * new samples cannot keep it (and the watermark) from ever completing.
   */
  queuedAtStart?: number;
}

export class Shipper {
  readonly counts: ShipperCounts = { discrete: 0, deltas: 0, batches: 0, spilled: 0 };
  /** where discrete events go past the outbox's bound, and come back from */
  readonly spillway: Spillway;
  private readonly o: ShipperOptions;
  private readonly perfNow: () => number;
  private readonly sliceMs: number;
  /** discrete events queued for the next flush, from `pendingPos` on */
  private pending: WireEvent[] = [];
  private pendingPos = 0;
  private job: FlushJob | undefined;
  /** a flush was asked for while one was under way: run another when it completes */
  private again = false;
  private turn: NodeJS.Immediate | undefined;
  /** stop(): no more work may be scheduled or done (the spill file is about to be closed) */
  private cancelled = false;

  constructor(opts: ShipperOptions) {
    this.o = opts;
    this.perfNow = opts.perfNow ?? (() => performance.now());
    this.sliceMs = opts.sliceMs ?? Infinity;
    this.spillway = new Spillway({ spill: opts.spill, outbox: opts.outbox, link: opts.link, counts: this.counts, onPause: opts.onPause });
  }

  /** Queues a discrete event for the next flush (or the running one). */
  queue(ev: DiscreteEvent): void {
    this.pending.push(ev);
  }

  /**
   * The highest watermark a flush has claimed: the outbox's, or one written with events to
   * the spill file (claimed once they are sent). A sample at or before it is late.
   */
  get claimedWatermark(): number {
    return Math.max(this.o.outbox.watermark, this.spillway.claimedWatermark);
  }

  /** True while a split flush is under way. */
  get flushing(): boolean {
    return this.job !== undefined;
  }

  /**
   * Starts a split flush with the host's time - 1 ms as its watermark and runs its first slice now;
   * the rest follow on later turns. While one is under way, another is run when it completes.
   */
  flushSliced(): void {
    if (this.cancelled) return;
    if (this.job) {
      this.again = true;
      return;
    }
    const now = this.o.clock();
    if (now === undefined) return;
    // On a live clock more samples can still come stamped with this very millisecond; only
    // the earlier ones are complete. (An explicit flush() claims `now`: its caller, such as
    // the replay, controls time and has fed everything up to it.)
    this.job = { wm: now - 1, force: false };
    this.continueJob();
  }

  /** A whole flush now (a split one under way is completed first), with watermark `wm`. */
  flushNow(wm: number, force: boolean): void {
    if (this.turn) clearImmediate(this.turn);
    this.turn = undefined;
    this.again = false;
    if (this.job) {
      while (!this.step(this.job, Infinity));
      this.job = undefined;
    }
    const job: FlushJob = { wm, force };
    while (!this.step(job, Infinity));
    this.o.onFlushed();
  }

  /** Sends on from the spill file as far as the outbox has room (after an ack or a welcome). */
  pumpSpill(): void {
    if (!this.cancelled) this.spillway.pump();
  }

  /** Resolves when every batch formed so far is acked and the spill file was read to its end. */
  async drain(): Promise<void> {
    const { outbox } = this.o;
    for (;;) {
      await outbox.drain();
      // An ack may have formed more batches from the file since drain() was called.
      if (this.cancelled || (!this.spillway.holding && outbox.ackedThrough >= outbox.lastSeq)) return;
      this.spillway.pump(Infinity);
    }
  }

  /** Stops all work, scheduled or to come (stop, before the spill file is rewritten and closed). */
  cancel(): void {
    this.cancelled = true;
    this.spillway.cancel();
    if (this.turn) clearImmediate(this.turn);
    this.turn = undefined;
    this.again = false;
  }

  private continueJob(): void {
    if (this.cancelled) return;
    const job = this.job!;
    if (!this.step(job, this.o.sliceEvents, this.sliceMs)) {
      this.turn = setImmediate(() => {
        this.turn = undefined;
        if (this.job === job) this.continueJob();
      });
      return;
    }
    this.job = undefined;
    this.o.onFlushed();
    if (this.again) {
      this.again = false;
      this.turn = setImmediate(() => {
        this.turn = undefined;
        this.flushSliced();
      });
    }
  }

  /**
   * One slice of `job`: at most `max` events, and no more once `budgetMs` is spent; returns
   * true when the job is complete.
   */
  private step(job: FlushJob, max: number, budgetMs = Infinity): boolean {
    const t0 = this.perfNow();
    const { outbox, coalescer, link } = this.o;
    const spillway = this.spillway;
    // Events waiting in the spill file go before anything newer.
    if (spillway.holding) spillway.formFromFile(max === Infinity ? Infinity : 1);
    if (spillway.holding || outbox.full) {
      coalescer.abortFlush();
      this.spillPending(job.wm);
      this.o.onPause(this.perfNow() - t0);
      return true;
    }
    const pending = this.pending;
    if (job.queuedAtStart === undefined) {
      job.queuedAtStart = pending.length;
      coalescer.beginFlush();
    }
    const chunk: WireEvent[] = [];
    let take = 0;
    let deltas = 0;
    // Discrete events first, then deltas, a few at a time between looks at the clock.
    const per = budgetMs === Infinity ? Infinity : CLOCK_CHECK_EVENTS;
    const deadline = t0 + budgetMs;
    // `max` counts discrete events and players looked at (a player may have no delta to emit).
    let used = 0;
    while (used < max) {
      const room = Math.min(per, max - used);
      const d = Math.min(room, pending.length - this.pendingPos);
      for (let k = 0; k < d; k++) chunk.push(pending[this.pendingPos++]!);
      take += d;
      let players = 0;
      if (d < room) {
        const before = coalescer.flushRemaining;
        deltas += coalescer.flushSome(room - d, chunk);
        players = before - coalescer.flushRemaining;
      }
      used += d + players;
      if (d + players < room || this.perfNow() >= deadline) break;
    }
    const done = this.pendingPos >= job.queuedAtStart && coalescer.flushRemaining === 0;
    if (done) {
      // The last batch claims the watermark: every discrete event queued so far goes in it
      // (those queued during the flush too: one stamped at or before the watermark must not
      // come after the batch that claims it).
      for (; this.pendingPos < pending.length; this.pendingPos++, take++) chunk.push(pending[this.pendingPos]!);
      this.pending = [];
      this.pendingPos = 0;
    }
    let formed = 0;
    if (chunk.length > 0) {
      formed = outbox.form(chunk, done ? job.wm : outbox.watermark).length;
    } else if (done && (job.force || job.wm - outbox.watermark >= this.o.heartbeatMs)) {
      formed = outbox.form(chunk, job.wm).length;
    }
    this.counts.discrete += take;
    this.counts.deltas += deltas;
    this.counts.batches += formed;
    if (formed > 0) link.pump();
    this.o.onPause(this.perfNow() - t0);
    return done;
  }

  /** Writes the discrete events queued so far to the spill file, claiming `wm` once they are sent. */
  private spillPending(wm: number): void {
    const events = this.pending.slice(this.pendingPos) as DiscreteEvent[];
    this.pending = [];
    this.pendingPos = 0;
    this.spillway.divert(events, wm);
  }
}
