/**
 * Between the plugin's samples and the link: the discrete events waiting for the next flush,
 * the flush itself, and the spill file. A flush takes the discrete events queued so far and
 * the coalescer's deltas, forms batches in the outbox and hands them to the link.
 *
 * Split flushes (issue 3: with 10 k players a flush must hold the event loop ≤ 1 ms at p99):
 * the timer's flush runs in slices of at most `sliceEvents` events, one per event-loop turn
 * (setImmediate), each forming and sending its own batch. The watermark rule holds across
 * slices: every batch but the last of a flush carries the previous watermark, and the last
 * one, formed only once nothing queued before it is left, carries the flush's time. A
 * discrete event queued while a flush is under way rides in one of its later slices (or the
 * next flush), never behind a batch that claims its time, unless the host stamped it at or
 * before a watermark already sent (counted as a late sample). `flushNow` runs a whole flush
 * at once (replay on trace time, tests, stop), finishing a split one first.
 *
 * Spill: when the outbox is over its memory bound even after merging deltas, the discrete
 * events of a flush go to the spill file instead (deltas wait in the coalescer, latest state
 * only), and so do those of every later flush until the file has been read back to its end.
 * Batches are formed from the file, in order, as acks make room; no heartbeat is formed
 * meanwhile, since the watermark must not pass an event still in the file.
 */
import type { DiscreteEvent, WireEvent } from '../protocol/index.js';
import { logger } from '../common/log.js';
import type { Coalescer } from './coalescer.js';
import type { Link } from './link.js';
import type { Outbox } from './outbox.js';
import type { Spill } from './spill/spill-file.js';

const log = logger('plugin');

/** Spill records (each at most one batch of events) formed per ack or turn while draining the file. */
const SPILL_RECORDS_PER_TURN = 4;

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
  private readonly o: ShipperOptions;
  /** discrete events queued for the next flush, from `pendingPos` on */
  private pending: WireEvent[] = [];
  private pendingPos = 0;
  private job: FlushJob | undefined;
  /** a flush was asked for while one was under way: run another when it completes */
  private again = false;
  private turn: NodeJS.Immediate | undefined;
  private spillTurn: NodeJS.Immediate | undefined;
  private warnedSpill = false;
  private spilledWm = 0;
  /** stop(): no more work may be scheduled or done (the spill file is about to be closed) */
  private cancelled = false;

  constructor(opts: ShipperOptions) {
    this.o = opts;
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
    return Math.max(this.o.outbox.watermark, this.spilledWm);
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

  /**
   * Forms batches from the spill file while the outbox has room, up to `maxRecords` records,
   * and sends them. Continues on a later turn while there is room and more to read.
   */
  pumpSpill(maxRecords = SPILL_RECORDS_PER_TURN): void {
    if (this.cancelled) return;
    const { spill, outbox } = this.o;
    spill.release(outbox.ackedThrough);
    if (!spill.hasUnread || outbox.full) return;
    const t0 = performance.now();
    this.formFromSpill(maxRecords);
    this.o.onPause(performance.now() - t0);
    if (spill.hasUnread && !outbox.full && !this.spillTurn) {
      this.spillTurn = setImmediate(() => {
        this.spillTurn = undefined;
        this.pumpSpill();
      });
    }
  }

  private formFromSpill(maxRecords: number): void {
    const { spill, outbox } = this.o;
    let formed = 0;
    try {
      for (let n = 0; n < maxRecords && spill.hasUnread && !outbox.full; n++) {
        const rec = spill.next();
        if (!rec) break;
        formed += outbox.form(rec.ev, rec.wm ?? outbox.watermark).length;
        spill.formed(outbox.lastSeq);
        this.counts.discrete += rec.ev.length;
      }
    } catch (err) {
      // A read error (a disk gone bad): what is unread stays in the file for the next try or start.
      log.error({ err: (err as Error).message, file: spill.file }, 'could not read the spill file');
    }
    this.counts.batches += formed;
    if (formed > 0) this.o.link.pump();
  }

  /** Resolves when every batch formed so far is acked and the spill file was read to its end. */
  async drain(): Promise<void> {
    const { outbox, spill } = this.o;
    for (;;) {
      await outbox.drain();
      // An ack may have formed more batches from the file since drain() was called.
      if (this.cancelled || (!spill.hasUnread && outbox.ackedThrough >= outbox.lastSeq)) return;
      this.pumpSpill(Infinity);
    }
  }

  /** Stops all work, scheduled or to come (stop, before the spill file is rewritten and closed). */
  cancel(): void {
    this.cancelled = true;
    if (this.turn) clearImmediate(this.turn);
    if (this.spillTurn) clearImmediate(this.spillTurn);
    this.turn = undefined;
    this.spillTurn = undefined;
    this.again = false;
  }

  private continueJob(): void {
    if (this.cancelled) return;
    const job = this.job!;
    if (!this.step(job, this.o.sliceEvents)) {
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

  /** One slice of `job`, at most `max` events; returns true when the job is complete. */
  private step(job: FlushJob, max: number): boolean {
    const t0 = performance.now();
    const { outbox, coalescer, spill, link } = this.o;
    // Events waiting in the spill file go before anything newer.
    if (spill.hasUnread) this.formFromSpill(max === Infinity ? Infinity : 1);
    if (spill.hasUnread || outbox.full) {
      coalescer.abortFlush();
      this.spillPending(job.wm);
      this.o.onPause(performance.now() - t0);
      return true;
    }
    const pending = this.pending;
    if (job.queuedAtStart === undefined) {
      job.queuedAtStart = pending.length;
      coalescer.beginFlush();
    }
    const chunk: WireEvent[] = [];
    let take = Math.min(max, pending.length - this.pendingPos);
    for (let k = 0; k < take; k++) chunk.push(pending[this.pendingPos++]!);
    let deltas = 0;
    if (chunk.length < max) deltas = coalescer.flushSome(max - chunk.length, chunk);
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
    this.o.onPause(performance.now() - t0);
    return done;
  }

  /** Writes the discrete events queued so far to the spill file, claiming `wm` once they are sent. */
  private spillPending(wm: number): void {
    const events = this.pending.slice(this.pendingPos) as DiscreteEvent[];
    this.pending = [];
    this.pendingPos = 0;
    if (events.length === 0) return;
    try {
      this.o.spill.append(events, wm, this.o.outbox.batchMaxEvents);
    } catch (err) {
      // A full or broken disk: keep the events in memory rather than lose them.
      log.error({ err: (err as Error).message, file: this.o.spill.file, events: events.length }, 'could not write to the spill file; keeping the events in the outbox past its bound');
      // They still may not pass events waiting in the file: claim nothing new then.
      const outbox = this.o.outbox;
      this.counts.discrete += events.length;
      this.counts.batches += outbox.form(events, this.o.spill.hasUnread ? outbox.watermark : wm).length;
      this.o.link.pump();
      return;
    }
    this.counts.spilled += events.length;
    if (wm > this.spilledWm) this.spilledWm = wm;
    if (!this.warnedSpill) {
      this.warnedSpill = true;
      log.warn({ file: this.o.spill.file, outboxBytes: this.o.outbox.bytes, bound: this.o.outbox.maxBytes }, 'outbox over its bound: discrete events go to the spill file until the gateway catches up');
    }
  }
}
