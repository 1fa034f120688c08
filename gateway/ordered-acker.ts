/**
 * The ordered batch acker of one connection. Batches are written to Kinesis as they
 * arrive (pipelined), but made durable in Redis and acked strictly in arrival order:
 * each batch waits for its own write, then for every batch before it. Batches whose
 * writes finish in the same tick, or while a durable raise is in flight, share one raise
 * (one Redis call) and one socket write of their acks.
 *
 * Unacked bytes are capped: past the cap the host stops reading the socket until acks
 * bring them below half the cap, so a fast plugin meets TCP backpressure instead of
 * growing the gateway's memory.
 *
 * It also tells fresh batches from resent ones: a seq above the highest seen is fresh, and
 * so is one a gap skipped (remembered, up to a bound, so a late reordered batch is still
 * written); anything else is already durable or in flight, and is only acked again.
 *
 * The first failure (a write, a raise, a fence by a newer epoch) breaks the acker: the
 * host closes the connection, nothing after it is acked, and the plugin resends.
 */
import { CloseCode, ErrorCode } from '../protocol/index.js';
import { logger } from '../common/log.js';
import type { DurableSeqs } from './durable-seqs.js';
import type { GatewayMetrics } from './metrics.js';

const log = logger('gateway');

/** Seqs skipped by a gap that are remembered, so a late (reordered) one is still written. */
const MAX_REMEMBERED_MISSING = 1024;

export interface AckerHost {
  readonly server: string;
  readonly epoch: number;
  /** The highest seq of (server, epoch) already durable when the hello was accepted. */
  readonly durableSeq: number;
  readonly durable: DurableSeqs;
  readonly metrics: GatewayMetrics;
  readonly maxUnackedBytes: number;
  /** Sends the Acks of `seqs`, in order (in one socket write). */
  ack(seqs: readonly number[]): void;
  /** The acker broke: send an Error naming the problem and close the connection; `err` is the cause, for the log. */
  fail(code: ErrorCode, close: CloseCode, message: string, err?: unknown): void;
  /** Stop (true) or resume (false) reading the socket for the unacked-bytes cap. */
  capped(on: boolean): void;
}

interface Pending {
  seq: number;
  bytes: number;
  /** False for a duplicate: acked, but its seq raises nothing. */
  raise: boolean;
  /** performance.now() when the batch arrived: the ack latency metric's start */
  received: number;
}

export class OrderedAcker {
  /** Batches in arrival order: each step waits for the batch's write, then queues its ack. */
  private tail: Promise<void> = Promise.resolve();
  /** Batches written (or duplicates), in arrival order, waiting for a durable raise and their acks. */
  private readonly toAck: Pending[] = [];
  private committing = false;
  private committed: Promise<void> = Promise.resolve();
  private broken = false;
  private unacked = 0;
  private lastSeq: number;
  private readonly missing = new Set<number>();

  constructor(private readonly host: AckerHost) {
    this.lastSeq = host.durableSeq;
  }

  /** True when batch `seq` is fresh (to be written); a gap it skips is counted and remembered. */
  admit(seq: number): boolean {
    const fresh = seq > this.lastSeq || this.missing.delete(seq);
    if (!fresh) return false;
    if (seq > this.lastSeq + 1) {
      const skipped = seq - this.lastSeq - 1;
      this.host.metrics.seqGap();
      log.warn({ server: this.host.server, epoch: this.host.epoch, after: this.lastSeq, seq, skipped }, 'seq gap: batches skipped');
      if (this.missing.size + skipped <= MAX_REMEMBERED_MISSING) for (let s = this.lastSeq + 1; s < seq; s++) this.missing.add(s);
    }
    if (seq > this.lastSeq) this.lastSeq = seq;
    return true;
  }

  get isBroken(): boolean {
    return this.broken;
  }

  /** Nothing more is acked (the connection is closing for a reason of its own). */
  break(): void {
    this.broken = true;
  }

  /** Resolves when every batch received so far is acked or has failed. */
  async settled(): Promise<void> {
    await this.tail;
    while (this.committing) await this.committed;
  }

  /** A batch already durable, or in flight on this connection: acked once everything before it is. */
  duplicate(seq: number): void {
    this.tail = this.tail.then(() => this.queue({ seq, bytes: 0, raise: false, received: performance.now() }));
  }

  /** A fresh batch of `bytes` whose Kinesis write is `written`. */
  fresh(seq: number, bytes: number, written: Promise<void>): void {
    const received = performance.now();
    written.catch(() => {}); // observed in order below
    this.unacked += bytes;
    if (this.unacked >= this.host.maxUnackedBytes) this.host.capped(true);
    this.tail = this.tail.then(async () => {
      if (!this.broken) {
        try {
          await written;
        } catch (err) {
          if (!this.broken) {
            this.broken = true;
            this.host.fail(ErrorCode.Internal, CloseCode.Internal, `batch ${seq} could not be made durable (${(err as Error).message}); resend it`, err);
          }
        }
      }
      this.queue({ seq, bytes, raise: true, received });
    });
  }

  /** Queues a batch for the next durable raise and its ack, in arrival order. */
  private queue(p: Pending): void {
    if (this.broken) {
      this.release(p.bytes);
      return;
    }
    this.toAck.push(p);
    if (!this.committing) {
      this.committing = true;
      // On the next tick, once every promise settled so far has run: one Kinesis call
      // settles many batches of this connection, each in its own microtask along `tail`,
      // and they all share one raise and one socket write instead of the first going alone.
      this.committed = new Promise<void>((resolve) => process.nextTick(() => resolve(this.commit())));
    }
  }

  /**
   * Makes the queued batches durable with one raise to the highest seq among them (every
   * batch before them on this connection is durable or queued with them), then acks them
   * in order; batches queued meanwhile go in the next round.
   */
  private async commit(): Promise<void> {
    const { server, epoch } = this.host;
    while (this.toAck.length > 0) {
      const group = this.toAck.splice(0);
      let top = 0;
      for (const a of group) if (a.raise && a.seq > top) top = a.seq;
      try {
        if (this.broken) continue;
        if (top > 0) {
          const durable = await this.host.durable.raise(server, epoch, top);
          if (this.broken) continue;
          if (durable === 'fenced') {
            this.broken = true;
            this.host.metrics.staleEpoch();
            this.host.fail(ErrorCode.StaleEpoch, CloseCode.StaleEpoch, `server ${server}: a newer epoch than ${epoch} said hello; batch ${group[0]!.seq} and later not acked`);
            continue;
          }
        }
        this.host.ack(group.map((a) => a.seq));
        const now = performance.now();
        for (const a of group) this.host.metrics.acked((now - a.received) / 1000);
      } catch (err) {
        if (!this.broken) {
          this.broken = true;
          this.host.fail(ErrorCode.Internal, CloseCode.Internal, `batches up to ${top} could not be made durable (${(err as Error).message}); resend them`, err);
        }
      } finally {
        for (const a of group) this.release(a.bytes);
      }
    }
    this.committing = false;
  }

  private release(bytes: number): void {
    if (bytes === 0) return;
    this.unacked -= bytes;
    if (this.unacked <= this.host.maxUnackedBytes / 2) this.host.capped(false);
  }
}
