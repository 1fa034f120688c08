/**
 * The prize path's group commit. Prize messages from the gateway (prizes, window-closed) and
 * joins of players with held prizes queue here and run in groups, one group at a time, in
 * arrival order (stream order per server): everything queued when a group starts is in it,
 * so what arrives during one group's fsync forms the next. The first group starts a
 * microtask later, so every frame of one socket read (ws emits them synchronously) is in it.
 */
import type { Prize, WindowClosed } from '../protocol/index.js';
import { logger } from '../common/log.js';
import type { PrizeLedger, PrizeOutcome } from './prize-ledger.js';

const log = logger('plugin');

/**
 * Most prize messages (prizes, window-closed, joins with held prizes) in one group commit.
 * The gateway pushes up to 100 entries per read (gateway/delivery.ts); the cap bounds one
 * append (~200 bytes a record) and one PrizeAck frame (~25 bytes an id, MAX_FRAME_BYTES 1 MiB).
 */
export const MAX_PRIZE_GROUP = 1024;

/** A message for the prize path, queued until its group commit. */
export type PrizeWork = { k: 'prize'; p: Prize } | { k: 'window-closed'; w: WindowClosed } | { k: 'join'; player: string };

/** What the plugin reports of a closed window ('window-closed' event). */
export interface WindowClosedInfo {
  hunt: string;
  start: number;
  end: number;
}

export interface PrizeQueueOptions {
  server: string;
  ledger: PrizeLedger;
  /** acks deliveries once they are durable */
  sendPrizeAck(ids: string[]): void;
  /** a delivered prize was decided (after its commit) */
  onPrize(p: Prize, outcome: PrizeOutcome): void;
  /** a window closed (after the commit of every prize delivered before it) */
  onWindowClosed(w: WindowClosedInfo): void;
}

export class PrizeQueue {
  private readonly o: PrizeQueueOptions;
  /** prize messages not yet in a group, in arrival order */
  private readonly queue: PrizeWork[] = [];
  /** the running drain (resolved when idle); it never rejects */
  private work: Promise<void> = Promise.resolve();
  private draining = false;

  constructor(opts: PrizeQueueOptions) {
    this.o = opts;
  }

  /** Resolves once every group queued so far has run (whatever its outcome). */
  get idle(): Promise<void> {
    return this.work;
  }

  push(work: PrizeWork): void {
    this.queue.push(work);
    if (this.draining) return;
    this.draining = true;
    this.work = this.drain();
  }

  private async drain(): Promise<void> {
    await Promise.resolve();
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, MAX_PRIZE_GROUP);
        try {
          await this.runGroup(group);
        } catch (err) {
          log.error({ err, server: this.o.server, messages: group.length }, 'prize handling failed; nothing of the group is acked, the gateway will deliver it again');
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Decides every prize of the group (giving items to online players), records the group
   * with one append and one fsync, then acks all of it in one PrizeAck and reports it in
   * order. A window-closed is reported only here, after the commit, so every prize delivered
   * before it (in this group or an earlier one) is durable by then; if the commit fails,
   * nothing of the group is acked or reported.
   */
  private async runGroup(group: PrizeWork[]): Promise<void> {
    const g = this.o.ledger.group();
    const outcomes: Array<PrizeOutcome | number> = [];
    for (const work of group) {
      if (work.k === 'prize') outcomes.push(g.prize(work.p, this.o.server));
      else if (work.k === 'join') outcomes.push(g.grantHeld(work.player));
      else outcomes.push(0);
    }
    await g.commit();
    // Only now is every prize of the group durable in the ledger.
    const ids: string[] = [];
    for (const work of group) if (work.k !== 'join') ids.push(work.k === 'prize' ? work.p.id : work.w.id);
    if (ids.length > 0) this.o.sendPrizeAck(ids);
    for (let i = 0; i < group.length; i++) {
      const work = group[i]!;
      const outcome = outcomes[i]!;
      if (work.k === 'prize') {
        const p = work.p;
        log.debug({ hunt: p.hunt, reason: p.reason, player: p.player, outcome }, 'prize');
        this.o.onPrize(p, outcome as PrizeOutcome);
      } else if (work.k === 'window-closed') {
        const w = work.w;
        this.o.onWindowClosed({ hunt: w.hunt, start: w.start, end: w.end });
      } else if (typeof outcome === 'number' && outcome > 0) {
        log.info({ player: work.player, granted: outcome }, 'granted held prizes on join');
      }
    }
  }
}
