/**
 * Everything the plugin does with its spill file, in one place: when the outbox is over its
 * memory bound even after merging deltas, a flush's discrete events are diverted to the file
 * (deltas wait in the coalescer, latest state only), and so are those of every later flush
 * until the file has been read back to its end. Batches are formed from the file, in order,
 * as acks make room; no heartbeat is formed meanwhile, since the watermark must not pass an
 * event still in the file. At stop, the file is rewritten to hold exactly what was not acked,
 * for the next start to send again. The file format itself is spill-file.ts.
 *
 * Bounded disk: once the file reached its cap (`spillMaxBytes`), or when the disk refuses an
 * append (ENOSPC, EIO: the append is undone), only hunt control events (start, stop, rules:
 * a few per hunt, without which every server's prizes would be wrong) are kept, in the file
 * or, if the disk refused, in the outbox past its memory bound. Entries, joins and leaves
 * are dropped then, counted (`cairn_plugin_spill_dropped_events_total`) and logged when it
 * begins and when it ends. The oldest events are kept, the newest dropped: a find keeps its
 * earliest time, so the early entries are the ones that decide ranks. Continuous deltas
 * never reach the file (they wait in the coalescer, latest state only).
 */
import type { DiscreteEvent } from '../../protocol/index.js';
import { logger } from '../../common/log.js';
import type { Link } from '../link.js';
import type { Outbox } from '../outbox.js';
import type { Spill } from './spill-file.js';

const log = logger('plugin');

/** Events kept whatever the cap: few, and every server's prizes depend on them. */
const CONTROL: ReadonlySet<string> = new Set(['start', 'stop', 'rules']);

/** Spill records (each at most one batch of events) formed per ack or turn while draining the file. */
const SPILL_RECORDS_PER_TURN = 4;

/** What stop() left behind. */
export interface StopReport {
  /** every batch was acked and the spill file read to its end before the timeout */
  drained: boolean;
  /** discrete events in the spill file now: the next start (a new epoch) sends them again */
  spilledEvents: number;
  spillBytes: number;
  spillFile: string;
}

/** Counters the spillway adds to (the shipper's: each event is counted once, wherever it went). */
export interface SpillCounts {
  discrete: number;
  batches: number;
  /** discrete events written to the spill file */
  spilled: number;
}

export interface SpillwayOptions {
  spill: Spill;
  outbox: Outbox;
  link: Pick<Link, 'pump'>;
  counts: SpillCounts;
  /** Called with how long a pump held the event loop (ms). */
  onPause: (ms: number) => void;
}

export class Spillway {
  private readonly o: SpillwayOptions;
  private turn: NodeJS.Immediate | undefined;
  private warned = false;
  private spilledWm = 0;
  /** the cap or a disk error is making the spillway drop events (logged when it begins and ends) */
  private dropping: 'cap' | 'write-error' | undefined;
  private droppedThisEpisode = 0;
  /** discrete events dropped at the cap or on a disk error, over this instance's life */
  dropped = 0;
  /** stop(): no more work may be scheduled or done (the spill file is about to be closed) */
  private cancelled = false;

  constructor(opts: SpillwayOptions) {
    this.o = opts;
  }

  /** Events wait in the file: nothing newer may be formed before them. */
  get holding(): boolean {
    return this.o.spill.hasUnread;
  }

  /** The highest watermark written with events to the file (claimed once they are sent). */
  get claimedWatermark(): number {
    return this.spilledWm;
  }

  /**
   * Forms batches from the file while the outbox has room, up to `maxRecords` records, and
   * sends them. Continues on a later turn while there is room and more to read.
   */
  pump(maxRecords = SPILL_RECORDS_PER_TURN): void {
    if (this.cancelled) return;
    const { spill, outbox } = this.o;
    spill.release(outbox.ackedThrough);
    if (!spill.hasUnread || outbox.full) return;
    const t0 = performance.now();
    this.formFromFile(maxRecords);
    this.o.onPause(performance.now() - t0);
    if (spill.hasUnread && !outbox.full && !this.turn) {
      this.turn = setImmediate(() => {
        this.turn = undefined;
        this.pump();
      });
    }
  }

  /** Forms batches from up to `maxRecords` records of the file, while the outbox has room. */
  formFromFile(maxRecords: number): void {
    const { spill, outbox, counts } = this.o;
    let formed = 0;
    try {
      for (let n = 0; n < maxRecords && spill.hasUnread && !outbox.full; n++) {
        const rec = spill.next();
        if (!rec) break;
        formed += outbox.form(rec.ev, rec.wm ?? outbox.watermark).length;
        spill.formed(outbox.lastSeq);
        counts.discrete += rec.ev.length;
      }
    } catch (err) {
      // A read error (a disk gone bad): what is unread stays in the file for the next try or start.
      log.error({ err, file: spill.file }, 'could not read the spill file');
    }
    counts.batches += formed;
    if (formed > 0) this.o.link.pump();
  }

  /** Writes `events` to the file, claiming `wm` once they are sent; past the cap, only control events. */
  divert(events: DiscreteEvent[], wm: number): void {
    if (events.length === 0) return;
    const { spill, outbox, counts } = this.o;
    let keep = events;
    if (spill.bytes >= spill.maxBytes) keep = this.drop(events, 'cap');
    else this.endDropping();
    if (keep.length === 0) return;
    try {
      spill.append(keep, wm, outbox.batchMaxEvents);
    } catch (err) {
      // A full or broken disk: control events stay in memory past the outbox's bound, the rest is dropped.
      log.error({ err, file: spill.file, events: keep.length }, 'could not write to the spill file (the append was undone)');
      const control = this.drop(keep, 'write-error');
      if (control.length > 0) {
        counts.discrete += control.length;
        // They still may not pass events waiting in the file: claim nothing new then.
        counts.batches += outbox.form(control, spill.hasUnread ? outbox.watermark : wm).length;
        this.o.link.pump();
      }
      return;
    }
    counts.spilled += keep.length;
    if (wm > this.spilledWm) this.spilledWm = wm;
    if (!this.warned) {
      this.warned = true;
      log.warn({ file: spill.file, outboxBytes: outbox.bytes, bound: outbox.maxBytes }, 'outbox over its bound: discrete events go to the spill file until the gateway catches up');
    }
  }

  /** Drops all but the control events of `events` (counted, logged once per episode); returns the control events. */
  private drop(events: DiscreteEvent[], why: 'cap' | 'write-error'): DiscreteEvent[] {
    const control = events.filter((e) => CONTROL.has(e.k));
    const n = events.length - control.length;
    if (n === 0) return control;
    this.dropped += n;
    this.droppedThisEpisode += n;
    if (this.dropping !== why) {
      this.dropping = why;
      const { spill } = this.o;
      log.error(
        { file: spill.file, spillBytes: spill.bytes, spillMaxBytes: spill.maxBytes, why },
        why === 'cap'
          ? 'spill file reached its cap (spillMaxBytes): dropping entries, joins and leaves (counted in cairn_plugin_spill_dropped_events_total) until the gateway catches up; start, stop and rules events are kept'
          : 'the disk refused the spill file: dropping entries, joins and leaves (counted in cairn_plugin_spill_dropped_events_total); start, stop and rules events are kept in memory',
      );
    }
    return control;
  }

  private endDropping(): void {
    if (this.dropping === undefined) return;
    log.warn({ file: this.o.spill.file, dropped: this.droppedThisEpisode, why: this.dropping }, 'spill file takes every discrete event again');
    this.dropping = undefined;
    this.droppedThisEpisode = 0;
  }

  /** Stops all work, scheduled or to come. */
  cancel(): void {
    this.cancelled = true;
    if (this.turn) clearImmediate(this.turn);
    this.turn = undefined;
  }

  /**
   * Rewrites the file to hold exactly what was not acked: the discrete events of the outbox's
   * unacked batches, then the records the file had not sent yet; closes it; logs and returns
   * what is left. Call with the link closed (nothing can be acked meanwhile).
   */
  leaveAtStop(drained: boolean, who: { server: string; epoch: number }): StopReport {
    this.cancel();
    const { spill, outbox } = this.o;
    const unackedBatches = outbox.size;
    let spilledEvents = spill.unreadEvents;
    try {
      if (unackedBatches > 0 || spill.hasUnread || spill.bytes > 0) spilledEvents = spill.rewrite(outbox.unackedDiscrete(), outbox.batchMaxEvents);
      spill.close();
    } catch (err) {
      log.error({ ...who, err, file: spill.file, unackedBatches }, 'could not write what was left to the spill file; unacked events are lost');
    }
    const report: StopReport = { drained, spilledEvents, spillBytes: spill.bytes, spillFile: spill.file };
    if (spilledEvents > 0) {
      log.warn({ ...who, unackedBatches, ...report }, `plugin stopped with ${spilledEvents} discrete events in the spill file; the next start sends them again`);
    } else {
      log.info({ ...who, unackedBatches, drained }, 'plugin stopped; nothing discrete was left unsent');
    }
    return report;
  }
}
