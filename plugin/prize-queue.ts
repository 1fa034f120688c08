/**
 * The prize path's group commit. Prize messages from the gateway (prizes, window-closed) and
 * joins of players with held prizes queue here and run in groups, one group at a time, in
 * arrival order (stream order per server): everything queued when a group starts is in it,
 * so what arrives during one group's fsync forms the next. The first group starts a
 * microtask later, so every frame of one socket read (ws emits them synchronously) is in it.
 */
import type { Prize, PrizeKey, WindowClosed } from '../protocol/index.js';
import { logger } from '../common/log.js';
import type { PrizeLedger, PrizeOutcome, Resolution, ResolveOutcome } from './prize-ledger.js';

const log = logger('plugin');

/**
 * Most prize messages (prizes, window-closed, joins with held prizes) in one group commit.
 * The gateway pushes up to 1000 entries per read (gateway/delivery.ts); the cap bounds one
 * append (~200 bytes a record) and one PrizeAck frame (~25 bytes an id, MAX_FRAME_BYTES 1 MiB).
 */
export const MAX_PRIZE_GROUP = 1024;

/** A message for the prize path, queued until its group commit. */
export type PrizeWork =
  | { k: 'prize'; p: Prize }
  | { k: 'window-closed'; w: WindowClosed }
  | { k: 'join'; player: string }
  /** an admin's resolution of an uncertain grant; `done` hears the outcome once durable (or the error) */
  | { k: 'resolve'; key: PrizeKey; how: Resolution; by: string; done(outcome: ResolveOutcome | Error): void };

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
   * Decides every prize of the group (giving items to online players once their intents are
   * durable), records the group, then acks all of it in one PrizeAck and reports it in order.
   * A window-closed is reported only here, after the commit, so every prize delivered before
   * it (in this group or an earlier one) is durable by then; if the commit fails, nothing of
   * the group is acked or reported.
   */
  private async runGroup(group: PrizeWork[]): Promise<void> {
    const g = this.o.ledger.group();
    for (const work of group) {
      if (work.k === 'prize') g.prize(work.p, this.o.server);
      else if (work.k === 'join') g.grantHeld(work.player);
      else if (work.k === 'resolve') g.resolve(work.key, work.how, work.by);
    }
    let result;
    try {
      result = await g.commit();
    } catch (err) {
      for (const work of group) if (work.k === 'resolve') work.done(err as Error);
      throw err;
    }
    // Only now is every prize of the group durable in the ledger.
    const ids: string[] = [];
    for (const work of group) if (work.k === 'prize') ids.push(work.p.id);
    else if (work.k === 'window-closed') ids.push(work.w.id);
    if (ids.length > 0) this.o.sendPrizeAck(ids);
    let prizes = 0;
    let joins = 0;
    let resolutions = 0;
    for (const work of group) {
      if (work.k === 'prize') {
        const p = work.p;
        const outcome = result.prizes[prizes++]!;
        log.debug({ hunt: p.hunt, reason: p.reason, player: p.player, outcome }, 'prize');
        this.o.onPrize(p, outcome);
      } else if (work.k === 'window-closed') {
        const w = work.w;
        this.o.onWindowClosed({ hunt: w.hunt, start: w.start, end: w.end });
      } else if (work.k === 'resolve') {
        const outcome = result.resolutions[resolutions++]!;
        log.warn({ audit: 'resolve-uncertain', by: work.by, hunt: work.key.hunt, reason: work.key.reason, how: work.how, outcome }, 'uncertain grant resolved by an admin');
        work.done(outcome);
      } else {
        const given = result.joins[joins++]!;
        if (given > 0) log.info({ player: work.player, granted: given }, 'granted held prizes');
      }
    }
  }
}
