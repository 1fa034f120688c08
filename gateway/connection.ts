/**
 * One plugin connection: hello and authentication, then batches in, acks and prizes out.
 *
 *   hello        the first message must be a valid Hello; version, token and epoch checked
 *   registering  the Redis hello script runs; reading is paused, early frames are kept
 *   ready        batches: written to Kinesis as they arrive, made durable and acked in
 *                arrival order by the ordered acker (gateway/ordered-acker.ts); prize
 *                acks; queries
 *   closed       nothing more is read or sent
 *
 * Anything wrong with what the peer sent closes this connection only, after an Error
 * message naming the problem. Reading the socket pauses while the hello registers, while
 * unacked bytes are over the acker's cap, and during shutdown (gateway/read-pauses.ts).
 *
 * Over 300 lines because the state machine above is one piece (like ws's websocket.js):
 * the acker and the read pauses, which hold state of their own, live beside it.
 */
import type { WebSocket } from 'ws';
import {
  Cap,
  CloseCode,
  ErrorCode,
  MAX_PRIZES_PER_FRAME,
  Op,
  PROTOCOL_VERSION,
  ProtocolError,
  batchFrameOf,
  decodePluginMessage,
  decodeRaw,
  readBatchFrame,
  encode,
  type BatchFrame,
  type GatewayMessage,
  type Hello,
  type PluginMessage,
  type Prize,
  type Query,
  type QueryReply,
  type WindowClosed,
} from '../protocol/index.js';
import { raceTimeout } from '../common/async.js';
import { logger } from '../common/log.js';
import { tokensMatch } from './auth.js';
import { frameToRecords } from './batch-records.js';
import type { Delivery } from './delivery.js';
import type { DurableSeqs } from './durable-seqs.js';
import type { KinesisWriter } from './kinesis-writer/writer.js';
import type { GatewayMetrics } from './metrics.js';
import type { BatchTap } from './live-page/event-tap.js';
import { OrderedAcker } from './ordered-acker.js';
import { ReadPauses } from './read-pauses.js';

const log = logger('gateway');

/** What a connection needs from its gateway. */
export interface ConnectionContext {
  token: string;
  durable: DurableSeqs;
  writer: KinesisWriter;
  metrics: GatewayMetrics;
  maxUnackedBytes: number;
  helloTimeoutMs: number;
  /** How long the peer has to answer our close frame before the socket is destroyed. */
  closeGraceMs: number;
  /** Makes `conn` the connection of its server, closing an older one; `newer` when a newer epoch is connected here. */
  claim(conn: Connection): Promise<{ newer?: number }>;
  release(conn: Connection): void;
  startDelivery(conn: Connection): Delivery;
  /** Answers a plugin's query from the worker's state (gateway/queries.ts). */
  answerQuery(q: Query): Promise<QueryReply>;
  /** Sees each fresh batch's events (the live page's joins, leaves and entries). */
  tap?: BatchTap;
}

/** WebSocket close reasons are at most 123 bytes (RFC 6455 section 5.5). */
const MAX_CLOSE_REASON_BYTES = 123;
/** A Redis stream entry id: what Prize / WindowClosed ids are. */
const STREAM_ID = /^[0-9]{1,20}-[0-9]{1,20}$/;
/** Deliveries wait while this much is queued on the socket. */
const CONGESTED_BYTES = 1024 * 1024;

const FRAME_ERROR_CODES = new Set<string>([ErrorCode.FrameInvalid, ErrorCode.FrameTooLarge, ErrorCode.HelloRequired, ErrorCode.ProtocolVersion]);

function closeReason(message: string): string {
  let r = message;
  while (Buffer.byteLength(r) > MAX_CLOSE_REASON_BYTES) r = r.slice(0, -1);
  return r;
}

type State = 'hello' | 'registering' | 'ready' | 'closed';

export class Connection {
  server: string | undefined;
  epoch = -1;
  /** Set by the liveness check; cleared when a pong or a message arrives. */
  awaitingPong = false;
  /** The peer takes several deliveries in one frame (its hello named Cap.Prizes). */
  private batchedDeliveries = false;

  private state: State = 'hello';
  private early: Buffer[] = [];
  /** Made once the hello is accepted (it needs the server and epoch). */
  private acker: OrderedAcker | undefined;
  private readonly pauses: ReadPauses;
  private delivery: Delivery | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly ctx: ConnectionContext,
    readonly remote: string,
  ) {
    ctx.metrics.connectionOpened();
    this.pauses = new ReadPauses(ws, ctx.metrics);
    this.helloTimer = setTimeout(
      () => this.reject(ErrorCode.HelloRequired, CloseCode.HelloRequired, `no hello within ${ctx.helloTimeoutMs} ms`),
      ctx.helloTimeoutMs,
    );
    ws.on('message', (data, isBinary) => this.onFrame(data as Buffer, isBinary));
    ws.on('pong', () => (this.awaitingPong = false));
    ws.on('error', (err: Error & { code?: string }) => this.onSocketError(err));
    ws.once('close', (code, reason) => void this.onClose(code, reason.toString()));
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }

  /** Resolves when every batch received so far is acked or has failed. */
  async settled(): Promise<void> {
    await this.acker?.settled();
  }

  /** Closes with `code`; in-flight batches still finish their writes, but are not acked. */
  close(code: CloseCode, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ws.close(code, closeReason(reason));
    // ws waits 30 s for the peer's close frame; a peer that never answers (a silent or
    // half-open socket) must not hold the connection that long.
    this.closeTimer = setTimeout(() => this.ws.terminate(), this.ctx.closeGraceMs);
    this.closeTimer.unref();
    // Read again so the peer's close frame arrives; frames after it are ignored (state is closed).
    this.pauses.clear();
  }

  /** Graceful close: stop reading, let in-flight batches be acked (up to `waitMs`), then close. */
  async shutdown(waitMs: number): Promise<void> {
    this.pauses.pause('shutdown');
    await raceTimeout(this.settled(), waitMs);
    this.close(CloseCode.GoingAway, 'gateway shutting down');
    await this.delivery?.stop();
  }

  /** Replaced by a newer connection of the same server: close, and wait for what this one started. */
  async replace(waitMs: number): Promise<void> {
    this.close(CloseCode.Replaced, 'replaced by a newer connection of the same server');
    await raceTimeout(this.settled(), waitMs);
    await this.delivery?.stop();
  }

  /**
   * Sends deliveries (prizes, window-closed), in order: in Prizes frames of up to
   * MAX_PRIZES_PER_FRAME to a plugin that takes them, else one frame each. False when this
   * connection can no longer take them (then none was sent).
   */
  deliver(msgs: readonly (Prize | WindowClosed)[]): boolean {
    if (this.state !== 'ready' || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.batchedDeliveries) {
      for (let i = 0; i < msgs.length; i += MAX_PRIZES_PER_FRAME) this.send({ op: Op.Prizes, items: msgs.slice(i, i + MAX_PRIZES_PER_FRAME) });
    } else {
      for (const msg of msgs) this.send(msg);
    }
    return true;
  }

  /** True while so much is queued on the socket that deliveries should wait. */
  get congested(): boolean {
    return this.ws.bufferedAmount > CONGESTED_BYTES;
  }

  private send(msg: GatewayMessage): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(encode(msg));
    return true;
  }

  /**
   * Acks in one socket write: ws writes each message at once (a header and a payload, one
   * writev each), so the acks of a group go out with the socket corked around them.
   */
  private sendAcks(seqs: readonly number[]): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    // ws keeps its net.Socket as `_socket` (ws 8, lib/websocket.js setSocket); no public way to cork.
    const socket = seqs.length > 1 ? (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket : undefined;
    socket?.cork();
    try {
      for (const seq of seqs) this.ws.send(encode({ op: Op.Ack, seq }));
    } finally {
      socket?.uncork();
    }
  }

  /** Sends an Error naming the problem, then closes this connection (and only this one). */
  private reject(code: ErrorCode, close: CloseCode, message: string, err?: unknown): void {
    if (this.state === 'closed') return;
    if (FRAME_ERROR_CODES.has(code)) this.ctx.metrics.badFrame(code);
    log.warn({ ...(err !== undefined ? { err } : {}), remote: this.remote, server: this.server, code, close }, message);
    this.send({ op: Op.Error, code, message });
    this.close(close, message);
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed') return;
    this.awaitingPong = false;
    this.ctx.metrics.frame(data.length);
    if (!isBinary) {
      this.reject(ErrorCode.FrameInvalid, CloseCode.FrameInvalid, 'text frame: messages are msgpack in binary frames');
      return;
    }
    if (this.state === 'registering') {
      // Reading is paused; these arrived in the same socket read as the hello.
      this.early.push(data);
      return;
    }
    this.handle(data);
  }

  private handle(data: Buffer): void {
    // Batches, nearly every frame, through the fast path; anything it is not sure of (other
    // messages, and every invalid frame) through the decoder, which also names a problem.
    if (this.state === 'ready') {
      const batch = readBatchFrame(data);
      if (batch) {
        this.batch(batch, data);
        return;
      }
    }
    let msg: PluginMessage;
    try {
      msg = decodePluginMessage(data);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      if (this.state === 'hello' && err.code === ErrorCode.FrameInvalid && this.looksLikeHello(data)) {
        this.reject(ErrorCode.HelloRequired, CloseCode.HelloRequired, `invalid hello: ${err.message}`);
      } else {
        this.reject(err.code, err.close, err.message);
      }
      return;
    }
    if (this.state === 'hello') {
      if (msg.op !== Op.Hello) {
        this.reject(ErrorCode.HelloRequired, CloseCode.HelloRequired, `the first message must be a hello (op ${Op.Hello}), got op ${msg.op}`);
        return;
      }
      void this.hello(msg);
      return;
    }
    switch (msg.op) {
      case Op.Hello:
        this.reject(ErrorCode.FrameInvalid, CloseCode.FrameInvalid, 'hello sent twice on one connection');
        return;
      case Op.Batch:
        this.batch(batchFrameOf(msg), data);
        return;
      case Op.PrizeAck: {
        const bad = msg.ids.find((id) => !STREAM_ID.test(id));
        if (bad !== undefined) {
          this.reject(ErrorCode.FrameInvalid, CloseCode.FrameInvalid, `prize-ack.ids: ${JSON.stringify(bad)} is not a delivery id (a Redis stream entry id like "1764331200000-0")`);
          return;
        }
        this.delivery?.ack(msg.ids).catch((err: unknown) => log.warn({ err, server: this.server }, 'XACK failed; the entries will be delivered again'));
        return;
      }
      case Op.Query:
        this.ctx.answerQuery(msg).then(
          (data) => this.send({ op: Op.Reply, id: msg.id, ok: true, data }),
          (err: unknown) => {
            log.warn({ err, server: this.server, q: msg.q, hunt: msg.hunt }, 'query failed');
            this.send({ op: Op.Reply, id: msg.id, ok: false, error: 'the hunt state could not be read; try again' });
          },
        );
        return;
    }
  }

  private looksLikeHello(data: Buffer): boolean {
    try {
      const raw = decodeRaw(data) as { op?: unknown } | null;
      return typeof raw === 'object' && raw !== null && raw.op === Op.Hello;
    } catch {
      return false;
    }
  }

  private async hello(msg: Hello): Promise<void> {
    clearTimeout(this.helloTimer);
    if (msg.v !== PROTOCOL_VERSION) {
      this.reject(ErrorCode.ProtocolVersion, CloseCode.ProtocolVersion, `protocol version ${msg.v} is not supported; this gateway speaks version ${PROTOCOL_VERSION}`);
      return;
    }
    if (!tokensMatch(msg.token, this.ctx.token)) {
      this.ctx.metrics.authFailure();
      this.reject(ErrorCode.AuthFailed, CloseCode.AuthFailed, `hello of server ${msg.server}: token does not match`);
      return;
    }
    this.state = 'registering';
    this.pauses.pause('hello');
    this.server = msg.server;
    this.epoch = msg.epoch;
    this.batchedDeliveries = msg.caps?.includes(Cap.Prizes) ?? false;
    try {
      const { newer } = await this.ctx.claim(this);
      const res = newer === undefined ? await this.ctx.durable.hello(msg.server, msg.epoch) : { ok: false as const, newestEpoch: newer };
      // Closed meanwhile (replaced, or the peer went away): TS narrows `state` across the awaits, so ask a getter.
      if (this.isClosed) return;
      if (!res.ok) {
        this.ctx.metrics.staleEpoch();
        this.reject(ErrorCode.StaleEpoch, CloseCode.StaleEpoch, `server ${msg.server}: epoch ${msg.epoch} is older than epoch ${res.newestEpoch}, which said hello since; this instance is fenced out`);
        return;
      }
      this.acker = this.makeAcker(msg.server, msg.epoch, res.durable);
      this.state = 'ready';
      this.send({ op: Op.Welcome, durable: res.durable });
      log.info({ remote: this.remote, server: msg.server, epoch: msg.epoch, durable: res.durable }, 'server connected');
      this.delivery = this.ctx.startDelivery(this);
      const early = this.early;
      this.early = [];
      for (const data of early) if (this.state === 'ready') this.handle(data);
      this.pauses.unpause('hello', this.isClosed);
    } catch (err) {
      this.reject(ErrorCode.Internal, CloseCode.Internal, `cannot register server ${msg.server}: ${(err as Error).message}`, err);
    }
  }

  private makeAcker(server: string, epoch: number, durableSeq: number): OrderedAcker {
    const { durable, metrics, maxUnackedBytes } = this.ctx;
    return new OrderedAcker({
      server,
      epoch,
      durableSeq,
      durable,
      metrics,
      maxUnackedBytes,
      ack: (seqs) => this.sendAcks(seqs),
      fail: (code, close, message, err) => this.reject(code, close, message, err),
      capped: (on) => (on ? this.pauses.pause('cap') : this.pauses.unpause('cap', this.isClosed)),
    });
  }

  private batch(batch: BatchFrame, frame: Buffer): void {
    const acker = this.acker!;
    const server = this.server!;
    const epoch = this.epoch;
    const seq = batch.seq;
    const fresh = acker.admit(seq);
    this.ctx.metrics.batch(batch.count, !fresh);
    if (!fresh) {
      acker.duplicate(seq);
      return;
    }
    let written: Promise<void>;
    try {
      const { scheme, recordTargetBytes } = this.ctx.writer;
      written = this.ctx.writer.write(frameToRecords({ server, epoch, seq, wm: batch.wm }, batch, { scheme, targetBytes: recordTargetBytes }));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      acker.break();
      this.reject(err.code, err.close, err.message);
      return;
    }
    this.ctx.tap?.(server, epoch, batch.events());
    acker.fresh(seq, frame.length, written);
  }

  private onSocketError(err: Error & { code?: string }): void {
    // ws has already closed the connection: 1009 for a message over maxPayload, 1008 for
    // too many fragments, 1002 for a protocol error.
    const code = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? ErrorCode.FrameTooLarge : ErrorCode.FrameInvalid;
    this.ctx.metrics.badFrame(code);
    log.warn({ err, remote: this.remote, server: this.server, code }, 'websocket error; connection closed');
    this.state = 'closed';
  }

  private async onClose(code: number, reason: string): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.helloTimer);
    clearTimeout(this.closeTimer);
    this.pauses.clear();
    this.ctx.metrics.connectionClosed();
    this.ctx.release(this);
    log.info({ remote: this.remote, server: this.server, code, reason }, 'connection closed');
    await this.delivery?.stop();
  }
}
