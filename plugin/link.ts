/**
 * The plugin's WebSocket link to the gateway. On every connection: send Hello, wait for
 * Welcome {durable}, drop outbox batches with seq <= durable, (re)send the rest in order,
 * then send new batches as they are formed, up to an in-flight byte bound. Ack {seq}
 * removes every batch <= seq. Prize and WindowClosed messages are handed to the plugin as
 * events, one per delivery also when several came in one Prizes frame (the hello asks for
 * those: Cap.Prizes); the plugin answers them with `sendPrizeAck`.
 *
 * Several gateways: the link talks to one at a time and, when that one closes or cannot be
 * reached, moves to the next in its list at once, keeping its epoch, its outbox and its
 * seqs. Durable seqs live in Redis, shared by every gateway of a stream, so the new
 * gateway's welcome names what the old one made durable and a batch resent to it is acked
 * without a second write. Only once every gateway of the list has failed in a row does it
 * back off.
 *
 * Reconnects back off exponentially with jitter (capped, ~5 s). A close for a reason a retry
 * cannot fix (bad token, protocol version, stale epoch) is reported with an 'error' event
 * and retried at the cap, never in a hot loop, so an operator can fix the gateway side.
 *
 * Events: 'welcome' (durable: number), 'ack' (seq: number), 'prize' (Prize),
 * 'window-closed' (WindowClosed), 'disconnect' ({ code, reason }), 'error' (CairnError).
 * 'error' is emitted only when someone listens: a plugin must never crash its game server.
 *
 * Over ~300 lines: the connection's state machine (connect, welcome, resend, ping, close,
 * back-off, moving between gateways) is one piece; the queries riding on it are
 * pending-queries.ts.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import {
  Cap,
  CairnError,
  CloseCode,
  decodeGatewayMessage,
  encode,
  ErrorCode,
  Op,
  PROTOCOL_VERSION,
  type GatewayMessage,
  type Hello,
  type Prize,
  type PrizeAck,
  type Query,
  type WindowClosed,
} from '../protocol/index.js';
import { MAX_FRAME_BYTES } from '../protocol/limits.js';
import { logger } from '../common/log.js';
import type { Outbox } from './outbox.js';
import { PendingQueries } from './pending-queries.js';

const log = logger('plugin');

export interface LinkOptions {
  /** The gateway, or several (a list, or a comma-separated string): used in order, one at a time, moving on when one is down. */
  url: string | readonly string[];
  serverId: string;
  epoch: number;
  token: string;
  outbox: Outbox;
  /** First reconnect delay. @default 100 */
  backoffBaseMs?: number;
  /** Longest reconnect delay; also the delay after a close a retry cannot fix. @default 5000 */
  backoffCapMs?: number;
  /** A connection that gets no welcome this long after opening is dropped. @default 10000 */
  welcomeTimeoutMs?: number;
  /** WebSocket ping period; a connection that missed a whole period's pong is dropped. @default 15000 */
  pingIntervalMs?: number;
  /** Encoded bytes written and not yet acked on one connection. @default 8 MiB */
  maxInFlightBytes?: number;
  /** For tests: the jitter source. @default Math.random */
  random?: () => number;
}

/** Close codes a reconnect cannot fix; each maps to the error code reported. */
const FATAL_CLOSE: ReadonlyMap<number, ErrorCode> = new Map<number, ErrorCode>([
  [CloseCode.AuthFailed, ErrorCode.AuthFailed],
  [CloseCode.ProtocolVersion, ErrorCode.ProtocolVersion],
  [CloseCode.StaleEpoch, ErrorCode.StaleEpoch],
]);

export interface LinkStats {
  /** connections opened after the first one */
  reconnects: number;
  /** frames of batches written to a socket, resends included */
  batchesSent: number;
  bytesSent: number;
  acks: number;
  welcomes: number;
  /** times the link moved on to another gateway of its list */
  gatewayMoves: number;
}

/** The gateway URLs of a list or a comma-separated string; a RangeError names what is not a ws:// or wss:// URL. */
export function gatewayUrls(given: string | readonly string[]): string[] {
  const urls = (typeof given === 'string' ? given.split(',') : [...given]).map((u) => u.trim()).filter((u) => u.length > 0);
  if (urls.length === 0) throw new RangeError('gateway URL: none given');
  for (const u of urls) {
    if (!/^wss?:\/\/[^\s,]+$/.test(u)) throw new RangeError(`gateway URL ${JSON.stringify(u)}: must start with ws:// or wss://`);
  }
  return urls;
}

export class Link extends EventEmitter {
  readonly stats: LinkStats = { reconnects: 0, batchesSent: 0, bytesSent: 0, acks: 0, welcomes: 0, gatewayMoves: 0 };
  private readonly opts: Required<Omit<LinkOptions, 'outbox' | 'url'>> & { outbox: Outbox };
  private readonly urls: readonly string[];
  /** Index in `urls` of the gateway used now. */
  private at = 0;
  /** Connections closed without a welcome since the last welcome. */
  private failedInRow = 0;
  private ws: WebSocket | undefined;
  private welcomed = false;
  private attempt = 0;
  private connections = 0;
  private closing = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private welcomeTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private lastError: { code: ErrorCode | string; message: string } | undefined;
  private firstWelcomeSettled = false;
  private readonly queries = new PendingQueries();
  private readonly firstWelcomePromise: Promise<void>;
  private resolveFirst!: () => void;
  private rejectFirst!: (err: Error) => void;

  constructor(opts: LinkOptions) {
    super();
    this.urls = gatewayUrls(opts.url);
    this.opts = {
      backoffBaseMs: 100,
      backoffCapMs: 5000,
      welcomeTimeoutMs: 10_000,
      pingIntervalMs: 15_000,
      maxInFlightBytes: 8 * 1024 * 1024,
      random: Math.random,
      ...opts,
    };
    this.firstWelcomePromise = new Promise<void>((resolve, reject) => {
      this.resolveFirst = resolve;
      this.rejectFirst = reject;
    });
    // Nobody may be awaiting it yet; an unhandled rejection must not crash the host.
    this.firstWelcomePromise.catch(() => undefined);
  }

  /** The gateway the link uses now (or tries next). */
  get url(): string {
    return this.urls[this.at]!;
  }

  /** True between a welcome and the connection's close. */
  get connected(): boolean {
    return this.welcomed;
  }

  /** Opens the first connection. */
  start(): void {
    this.connect();
  }

  /**
   * Resolves at the first welcome. Rejects when the first connection is refused for a
   * reason a retry cannot fix (before any welcome), or when the link is closed first.
   */
  firstWelcome(): Promise<void> {
    return this.firstWelcomePromise;
  }

  /** Sends what the in-flight bound allows; call after forming batches. */
  pump(): void {
    const ws = this.ws;
    if (!ws || !this.welcomed || ws.readyState !== WebSocket.OPEN) return;
    const outbox = this.opts.outbox;
    for (let b = outbox.next(this.opts.maxInFlightBytes); b; b = outbox.next(this.opts.maxInFlightBytes)) {
      ws.send(b.frame, { binary: true });
      outbox.markSent(b);
      this.stats.batchesSent++;
      this.stats.bytesSent += b.frame.length;
    }
  }

  /** Sends a PrizeAck; false when there is no welcomed connection (the gateway delivers again then). */
  sendPrizeAck(ids: string[]): boolean {
    const ws = this.ws;
    if (!ws || !this.welcomed || ws.readyState !== WebSocket.OPEN) return false;
    const msg: PrizeAck = { op: Op.PrizeAck, ids };
    ws.send(encode(msg), { binary: true });
    return true;
  }

  /**
   * Asks the gateway a question answered from the worker's state (`hunt status`,
   * `hunt leaderboard`). Rejects when the link is down or no reply comes in `timeoutMs`;
   * a query is never queued: a player waiting on chat wants an answer now or an apology.
   */
  query(q: Omit<Query, 'op' | 'id'>, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const ws = this.ws;
    if (!ws || !this.welcomed || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected to the gateway'));
    const { id, answer } = this.queries.open(timeoutMs);
    ws.send(encode({ op: Op.Query, id, ...q } satisfies Query), { binary: true });
    return answer;
  }

  /** Closes the connection and stops reconnecting. */
  async close(): Promise<void> {
    this.closing = true;
    this.queries.failAll('link closed');
    this.clearTimers();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.settleFirst(new CairnError(ErrorCode.Internal, 'link closed before the gateway welcomed it'));
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => ws.terminate(), 2000);
      ws.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(CloseCode.Normal, 'plugin stopping');
    });
  }

  private connect(): void {
    if (this.closing) return;
    if (this.connections++ > 0) this.stats.reconnects++;
    this.lastError = undefined;
    const ws = new WebSocket(this.url, { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => this.onOpen(ws));
    ws.on('message', (data, isBinary) => this.onMessage(ws, data as Buffer, isBinary));
    ws.on('pong', () => ((ws as WebSocket & { cairnAlive?: boolean }).cairnAlive = true));
    ws.on('error', (err) => {
      // 'close' follows; the reason is logged there.
      this.lastError ??= { code: (err as NodeJS.ErrnoException).code ?? 'socket', message: err.message };
    });
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
  }

  private onOpen(ws: WebSocket): void {
    if (ws !== this.ws) return;
    const hello: Hello = { op: Op.Hello, v: PROTOCOL_VERSION, server: this.opts.serverId, epoch: this.opts.epoch, token: this.opts.token, caps: [Cap.Prizes] };
    ws.send(encode(hello), { binary: true });
    this.welcomeTimer = setTimeout(() => {
      log.warn({ url: this.url, ms: this.opts.welcomeTimeoutMs }, 'no welcome from the gateway; reconnecting');
      ws.terminate();
    }, this.opts.welcomeTimeoutMs);
    (ws as WebSocket & { cairnAlive?: boolean }).cairnAlive = true;
    this.pingTimer = setInterval(() => {
      const w = ws as WebSocket & { cairnAlive?: boolean };
      if (!w.cairnAlive) {
        log.warn({ url: this.url }, 'gateway missed a ping; reconnecting');
        ws.terminate();
        return;
      }
      w.cairnAlive = false;
      ws.ping();
    }, this.opts.pingIntervalMs);
  }

  private onMessage(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (ws !== this.ws) return;
    let msg: GatewayMessage;
    try {
      if (!isBinary) throw new CairnError(ErrorCode.FrameInvalid, 'text frame; the protocol uses binary msgpack frames');
      msg = decodeGatewayMessage(data);
    } catch (err) {
      log.error({ err }, 'bad message from the gateway; reconnecting');
      ws.close(CloseCode.FrameInvalid, 'bad message from gateway');
      return;
    }
    switch (msg.op) {
      case Op.Welcome:
        this.onWelcome(msg.durable);
        return;
      case Op.Ack:
        this.stats.acks++;
        this.opts.outbox.ack(msg.seq);
        this.emit('ack', msg.seq);
        this.pump();
        return;
      case Op.Prize:
        if (!this.welcomed) return;
        this.emit('prize', msg satisfies Prize);
        return;
      case Op.WindowClosed:
        if (!this.welcomed) return;
        this.emit('window-closed', msg satisfies WindowClosed);
        return;
      case Op.Prizes:
        if (!this.welcomed) return;
        for (const item of msg.items) {
          if (item.op === Op.Prize) this.emit('prize', item satisfies Prize);
          else this.emit('window-closed', item satisfies WindowClosed);
        }
        return;
      case Op.Reply:
        this.queries.answer(msg);
        return;
      case Op.Error:
        this.lastError = { code: msg.code, message: msg.message };
        log.error({ code: msg.code, message: msg.message }, 'gateway reported an error');
        return;
    }
  }

  private onWelcome(durable: number): void {
    if (this.welcomeTimer) clearTimeout(this.welcomeTimer);
    this.welcomeTimer = undefined;
    this.welcomed = true;
    this.attempt = 0;
    this.failedInRow = 0;
    this.stats.welcomes++;
    const outbox = this.opts.outbox;
    outbox.rewind();
    if (durable > 0) outbox.ack(durable);
    log.info({ url: this.url, durable, unacked: outbox.size, reconnects: this.stats.reconnects }, 'gateway welcomed the link');
    this.emit('welcome', durable);
    this.settleFirst();
    this.pump();
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.queries.failAll('connection to the gateway lost');
    this.clearTimers();
    const wasWelcomed = this.welcomed;
    this.welcomed = false;
    this.ws = undefined;
    if (this.closing) return;
    if (!wasWelcomed) this.failedInRow++;
    const fatal = FATAL_CLOSE.get(code);
    const why = { url: this.url, code, reason, error: this.lastError, unacked: this.opts.outbox.size };
    this.emit('disconnect', { code, reason });
    let delay: number;
    if (fatal !== undefined) {
      const err = new CairnError(fatal, `gateway ${this.url} refused server ${this.opts.serverId} (epoch ${this.opts.epoch}): ${this.lastError?.message ?? reason ?? `close code ${code}`}`);
      log.error(why, 'gateway closed the link for a reason a retry cannot fix; retrying slowly');
      if (!this.settleFirst(err) && this.listenerCount('error') > 0) this.emit('error', err);
      delay = this.opts.backoffCapMs;
    } else if (code === CloseCode.Replaced) {
      // A replaced connection means another one for this server is live: do not fight it.
      log.warn(why, 'link replaced by a newer connection; reconnecting slowly');
      delay = this.opts.backoffCapMs;
    } else if (this.urls.length > 1 && this.failedInRow < this.urls.length) {
      // Another gateway may well be up: go there now (a little jitter, so the servers of a
      // dead gateway do not all arrive in the same millisecond), and back off only once
      // every gateway of the list has failed in a row.
      delay = Math.round(this.opts.backoffBaseMs * this.opts.random());
      log.warn({ ...why, next: this.urls[(this.at + 1) % this.urls.length] }, 'link closed; moving to the next gateway');
    } else {
      log.warn(why, 'link closed; reconnecting');
      delay = this.backoff();
    }
    if (this.urls.length > 1 && code !== CloseCode.Replaced) {
      this.at = (this.at + 1) % this.urls.length;
      this.stats.gatewayMoves++;
    }
    if (this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }

  /** Exponential backoff with jitter in [50%, 100%] of the step, capped. */
  private backoff(): number {
    const step = Math.min(this.opts.backoffCapMs, this.opts.backoffBaseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(step * (0.5 + 0.5 * this.opts.random()));
  }

  /** Settles the first-welcome promise once; returns true if this call settled it. */
  private settleFirst(err?: Error): boolean {
    if (this.firstWelcomeSettled) return false;
    this.firstWelcomeSettled = true;
    if (err) this.rejectFirst(err);
    else this.resolveFirst();
    return true;
  }

  private clearTimers(): void {
    if (this.welcomeTimer) clearTimeout(this.welcomeTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.welcomeTimer = undefined;
    this.pingTimer = undefined;
  }
}
