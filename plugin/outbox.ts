/**
 * The outbox: batches formed but not yet acked, in seq order, with no I/O of its own (the
 * link sends from it). Batches are numbered 1, 2, 3... per (server, epoch) with no gaps:
 * the worker applies a server's watermark batch by batch, so a missing seq would stall it.
 *
 * A batch that has been written to a socket once is immutable: the gateway may already have
 * made part of it durable, and a resend with other content could then lose or mix events.
 * Only batches never sent may change, and only by merging continuous deltas.
 *
 * Backpressure: the outbox is bounded in encoded bytes. Crossing the bound merges the deltas
 * of never-sent batches (only the latest state per player is kept) and reports `full`, so
 * the plugin leaves new deltas coalescing in the coalescer; discrete events are never
 * dropped: when the outbox is still over its bound, the plugin writes them to the spill file
 * instead (plugin/spill/) and forms batches from it as acks make room.
 *
 * Over ~300 lines: forming, merging under backpressure, sending order and acks all keep
 * the same invariant (seqs without gaps, sent batches immutable), which reads best in one place.
 */
import { checkQuantum, DEFAULT_QUANTUM, decodePluginMessage, isDiscrete, type Batch, type DeltaEvent, type DiscreteEvent, type WireEvent } from '../protocol/index.js';
import { MAX_BATCH_EVENTS, MAX_FRAME_BYTES } from '../protocol/limits.js';
import { logger } from '../common/log.js';
import { encodeBatch as encodeBatchFrame } from './batch-encoder.js';

const log = logger('plugin');

export interface OutboxOptions {
  /** Bound on the encoded bytes of unacked batches. @default 64 MiB */
  maxBytes?: number;
  /** Most events in one batch (at most MAX_BATCH_EVENTS). @default 500 */
  batchMaxEvents?: number;
  /** Most encoded bytes in one batch frame (below MAX_FRAME_BYTES). @default 256 KiB */
  batchMaxBytes?: number;
  /** The coalescer's position grid, carried in each batch's moves block. @default 0.05 */
  quantum?: number;
}

export interface OutboxBatch {
  readonly seq: number;
  readonly wm: number;
  /** The events, kept only until the batch is first sent (needed for merging). */
  events: WireEvent[] | undefined;
  /** The encoded Batch message, exactly what goes on the wire (and again on a resend). */
  frame: Buffer;
  /** Written to a socket at least once: immutable from then on. */
  sent: boolean;
  readonly discrete: number;
  deltas: number;
}

export const DEFAULT_OUTBOX_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_BATCH_MAX_EVENTS = 500;
export const DEFAULT_BATCH_MAX_BYTES = 256 * 1024;

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Outbox {
  readonly maxBytes: number;
  readonly batchMaxEvents: number;
  readonly batchMaxBytes: number;
  readonly quantum: number;
  /** unacked batches in seq order */
  private batches: OutboxBatch[] = [];
  /** index in `batches` of the next batch to send on the current connection */
  private cursor = 0;
  private inFlight = 0;
  private totalBytes = 0;
  private seq = 0;
  private acked = 0;
  private wm = 0;
  private drainWaiters: Waiter[] = [];
  private capacityWaiters: Waiter[] = [];
  private closedWith: Error | undefined;
  /** deltas removed by merging under backpressure */
  merged = 0;

  constructor(opts: OutboxOptions = {}) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_OUTBOX_MAX_BYTES;
    this.batchMaxEvents = opts.batchMaxEvents ?? DEFAULT_BATCH_MAX_EVENTS;
    this.batchMaxBytes = opts.batchMaxBytes ?? DEFAULT_BATCH_MAX_BYTES;
    this.quantum = checkQuantum(opts.quantum ?? DEFAULT_QUANTUM);
    if (!(this.maxBytes > 0)) throw new RangeError(`outboxMaxBytes must be positive, got ${this.maxBytes}`);
    if (!Number.isInteger(this.batchMaxEvents) || this.batchMaxEvents < 1 || this.batchMaxEvents > MAX_BATCH_EVENTS) {
      throw new RangeError(`batchMaxEvents must be an integer from 1 to ${MAX_BATCH_EVENTS} (MAX_BATCH_EVENTS), got ${this.batchMaxEvents}`);
    }
    if (!(this.batchMaxBytes >= 1024) || this.batchMaxBytes >= MAX_FRAME_BYTES) {
      throw new RangeError(`batchMaxBytes must be from 1024 to below ${MAX_FRAME_BYTES} (MAX_FRAME_BYTES), got ${this.batchMaxBytes}`);
    }
  }

  /** Seq of the newest batch formed (0 before the first). */
  get lastSeq(): number {
    return this.seq;
  }
  /** Every batch with seq <= this is acked (or was durable at a welcome). */
  get ackedThrough(): number {
    return this.acked;
  }
  /** Watermark of the newest batch formed (0 before the first). */
  get watermark(): number {
    return this.wm;
  }
  get bytes(): number {
    return this.totalBytes;
  }
  get size(): number {
    return this.batches.length;
  }
  /** Encoded bytes written on the current connection and not acked yet. */
  get inFlightBytes(): number {
    return this.inFlight;
  }
  get full(): boolean {
    return this.totalBytes > this.maxBytes;
  }
  /** Discrete events in unacked batches. */
  get discretePending(): number {
    let n = 0;
    for (const b of this.batches) n += b.discrete;
    return n;
  }

  /**
   * The discrete events of every unacked batch, in order, each batch's with its watermark
   * (for the spill file at stop). A batch already sent keeps only its frame: decoded here.
   */
  unackedDiscrete(): Array<{ wm: number; ev: DiscreteEvent[] }> {
    const out: Array<{ wm: number; ev: DiscreteEvent[] }> = [];
    for (const b of this.batches) {
      if (b.discrete === 0) continue;
      const events = b.events ?? (decodePluginMessage(b.frame, Infinity) as Batch).ev;
      out.push({ wm: b.wm, ev: events.filter(isDiscrete) });
    }
    return out;
  }

  /**
   * Forms batches from `events` (in order) under the count and byte bounds. Only the last
   * batch carries `wm`; the earlier ones carry the previous watermark, since the worker
   * advances a server's watermark batch by batch and an early large one could close a
   * window before the rest of its events arrive. Watermarks never go backwards. With no
   * events, forms one empty batch (a heartbeat) only when the watermark advances.
   */
  form(events: readonly WireEvent[], wm: number): OutboxBatch[] {
    const formed: OutboxBatch[] = [];
    const finalWm = Math.max(wm, this.wm);
    if (events.length === 0) {
      if (finalWm > this.wm) formed.push(this.push([], finalWm));
      this.afterGrowth();
      return formed;
    }
    const prevWm = this.wm;
    for (let start = 0; start < events.length; start += this.batchMaxEvents) {
      const chunk = events.slice(start, start + this.batchMaxEvents);
      const last = start + this.batchMaxEvents >= events.length;
      this.formBounded(chunk, last ? finalWm : prevWm, prevWm, formed);
    }
    this.afterGrowth();
    return formed;
  }

  /** Splits `chunk` in halves until each frame fits batchMaxBytes; the last piece gets `wm`. */
  private formBounded(chunk: WireEvent[], wm: number, prevWm: number, formed: OutboxBatch[]): void {
    const frame = this.encode(this.seq + 1, wm, chunk);
    if (frame.length <= this.batchMaxBytes || chunk.length === 1) {
      if (frame.length > MAX_FRAME_BYTES) {
        // A single event above the frame limit (e.g. a rules event with huge clues): the gateway
        // will refuse it. Keep it anyway (never drop a discrete event) and say so loudly.
        log.error({ bytes: frame.length, limit: MAX_FRAME_BYTES, kind: chunk[0]?.k }, 'one event is larger than the frame limit; the gateway will reject its batch');
      }
      formed.push(this.push(chunk, wm, frame));
      return;
    }
    const half = chunk.length >> 1;
    this.formBounded(chunk.slice(0, half), prevWm, prevWm, formed);
    this.formBounded(chunk.slice(half), wm, prevWm, formed);
  }

  private push(events: WireEvent[], wm: number, frame?: Buffer): OutboxBatch {
    const seq = ++this.seq;
    let discrete = 0;
    for (const ev of events) if (isDiscrete(ev)) discrete++;
    const b: OutboxBatch = { seq, wm, events, frame: frame ?? this.encode(seq, wm, events), sent: false, discrete, deltas: events.length - discrete };
    this.batches.push(b);
    this.totalBytes += b.frame.length;
    this.wm = wm;
    return b;
  }

  private afterGrowth(): void {
    if (this.full) this.compact();
  }

  /**
   * Merges the deltas of never-sent batches so each player keeps one (the newest, with any
   * field only an older one carried filled in). Returns the number of deltas removed.
   */
  compact(): number {
    const newest = new Map<number, { d: DeltaEvent; b: OutboxBatch }>();
    const touched = new Set<OutboxBatch>();
    let removed = 0;
    for (let k = this.batches.length - 1; k >= 0; k--) {
      const b = this.batches[k]!;
      if (b.sent || !b.events) break; // sending is in order: everything before a sent batch was sent too
      if (b.deltas === 0) continue;
      const events = b.events;
      let drop: Set<number> | undefined;
      for (let j = events.length - 1; j >= 0; j--) {
        const ev = events[j]!;
        if (ev.k !== 'delta') continue;
        const later = newest.get(ev.i);
        if (!later) {
          newest.set(ev.i, { d: ev, b });
          continue;
        }
        const d = later.d;
        if (d.region === undefined && ev.region !== undefined) d.region = ev.region;
        if (d.x === undefined && ev.x !== undefined) d.x = ev.x;
        if (d.y === undefined && ev.y !== undefined) d.y = ev.y;
        if (d.z === undefined && ev.z !== undefined) d.z = ev.z;
        (drop ??= new Set()).add(j);
        touched.add(later.b);
      }
      if (drop) {
        b.events = events.filter((_, j) => !drop.has(j));
        b.deltas -= drop.size;
        removed += drop.size;
        touched.add(b);
      }
    }
    for (const b of touched) {
      this.totalBytes -= b.frame.length;
      b.frame = this.encode(b.seq, b.wm, b.events!);
      this.totalBytes += b.frame.length;
    }
    if (removed > 0) {
      this.merged += removed;
      log.debug({ removed, bytes: this.totalBytes }, 'outbox over its bound: merged deltas of unsent batches');
      this.notifyCapacity();
    }
    return removed;
  }

  private encode(seq: number, wm: number, events: readonly WireEvent[]): Buffer {
    return encodeBatchFrame(seq, wm, events, this.quantum);
  }

  /** The next batch to send on the current connection, if the in-flight bound allows one. */
  next(maxInFlightBytes: number): OutboxBatch | undefined {
    const b = this.batches[this.cursor];
    if (!b) return undefined;
    // Always allow one batch in flight, whatever its size.
    if (this.inFlight > 0 && this.inFlight + b.frame.length > maxInFlightBytes) return undefined;
    return b;
  }

  /** Records that `next()`'s batch was written to the socket. */
  markSent(b: OutboxBatch): void {
    if (this.batches[this.cursor] !== b) throw new Error(`outbox: batch ${b.seq} is not the next to send`);
    b.sent = true;
    b.events = undefined;
    this.cursor++;
    this.inFlight += b.frame.length;
  }

  /** A new connection: everything unacked is sent again, from the oldest. */
  rewind(): void {
    this.cursor = 0;
    this.inFlight = 0;
  }

  /** Removes every batch with seq <= `seq`; returns how many. */
  ack(seq: number): number {
    if (seq <= this.acked) return 0;
    let n = 0;
    while (n < this.batches.length && this.batches[n]!.seq <= seq) {
      const b = this.batches[n]!;
      this.totalBytes -= b.frame.length;
      if (n < this.cursor) this.inFlight -= b.frame.length;
      n++;
    }
    if (n > 0) this.batches.splice(0, n);
    this.cursor = Math.max(0, this.cursor - n);
    this.acked = Math.min(Math.max(this.acked, seq), this.seq);
    if (this.batches.length === 0) this.acked = this.seq;
    this.notifyDrain();
    this.notifyCapacity();
    return n;
  }

  /** Resolves when every batch formed so far is acked. */
  drain(): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const target = this.seq;
    if (this.acked >= target) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ target, resolve, reject }));
  }

  /** Resolves at once unless the outbox is over its bound; then when it is back under it. */
  waitForCapacity(): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (!this.full) return Promise.resolve();
    return new Promise((resolve, reject) => this.capacityWaiters.push({ target: 0, resolve, reject }));
  }

  /** Rejects every waiter (shutdown); later waits reject at once. */
  close(err: Error): void {
    this.closedWith = err;
    for (const w of [...this.drainWaiters, ...this.capacityWaiters]) w.reject(err);
    this.drainWaiters = [];
    this.capacityWaiters = [];
  }

  private notifyDrain(): void {
    if (this.drainWaiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.drainWaiters) (this.acked >= w.target ? w.resolve() : still.push(w));
    this.drainWaiters = still;
  }

  private notifyCapacity(): void {
    if (this.full || this.capacityWaiters.length === 0) return;
    const ws = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const w of ws) w.resolve();
  }
}
