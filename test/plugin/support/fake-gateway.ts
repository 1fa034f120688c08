/**
 * A small gateway peer for plugin tests: a real `ws` server on port 0 speaking the wire
 * protocol through protocol/codec. It records hellos, batch frames (resends included) and
 * prize acks, welcomes with the highest seq it acked for the (server, epoch), and acks on
 * receipt unless told not to. It is a test double for the WebSocket peer only; no Redis
 * or Kinesis is involved in what it stands for.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { batchEvents, decodePluginMessage, encode, Op, type Batch, type GatewayMessage, type Hello, type WireEvent } from '../../../protocol/index.js';

/** A batch as the plugin formed it: `ev` holds its discrete events, then its moves block's deltas. */
export interface ReceivedBatch extends Omit<Batch, 'ev'> {
  ev: WireEvent[];
  /** connection number (1-based) it arrived on */
  conn: number;
  bytes: Buffer;
}

export class FakeGateway {
  readonly hellos: Hello[] = [];
  readonly batches: ReceivedBatch[] = [];
  readonly prizeAcks: string[] = [];
  /** the ids of each PrizeAck message, one entry per message */
  readonly prizeAckMessages: string[][] = [];
  /** ack every batch on receipt */
  autoAck = true;
  /** welcome every hello */
  autoWelcome = true;
  /** close every new connection right after its hello with this code (e.g. AuthFailed) */
  refuseWith: { code: number; reason: string } | undefined;
  /** overrides the durable seq sent in the next welcomes */
  durableOverride: number | undefined;
  connections = 0;
  private readonly durable = new Map<string, number>();
  private live = new Set<WebSocket>();
  private current: WebSocket | undefined;

  private constructor(private readonly wss: WebSocketServer) {
    wss.on('connection', (ws) => this.onConnection(ws));
  }

  static async start(): Promise<FakeGateway> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    return new FakeGateway(wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  /** Batches by seq, first copy of each (what a deduping gateway keeps). */
  unique(): ReceivedBatch[] {
    const bySeq = new Map<number, ReceivedBatch>();
    for (const b of this.batches) if (!bySeq.has(b.seq)) bySeq.set(b.seq, b);
    return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Every event of the unique batches, in order. */
  events(): WireEvent[] {
    return this.unique().flatMap((b) => b.ev);
  }

  send(msg: GatewayMessage): void {
    if (!this.current) throw new Error('fake gateway: no connection');
    this.current.send(encode(msg));
  }

  ack(seq: number): void {
    const h = this.hellos.at(-1)!;
    const key = `${h.server}/${h.epoch}`;
    this.durable.set(key, Math.max(this.durable.get(key) ?? 0, seq));
    this.send({ op: Op.Ack, seq });
  }

  /** Drops every connection without a close handshake (a crash or a network cut). */
  dropAll(): void {
    for (const ws of this.live) ws.terminate();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private onConnection(ws: WebSocket): void {
    const conn = ++this.connections;
    this.live.add(ws);
    ws.on('close', () => this.live.delete(ws));
    let hello: Hello | undefined;
    ws.on('message', (data: Buffer) => {
      const msg = decodePluginMessage(data);
      if (msg.op === Op.Hello) {
        hello = msg;
        this.hellos.push(msg);
        this.current = ws;
        if (this.refuseWith) {
          ws.close(this.refuseWith.code, this.refuseWith.reason);
          return;
        }
        if (this.autoWelcome) this.welcome(ws, msg);
        return;
      }
      if (msg.op === Op.Batch) {
        this.batches.push({ ...msg, ev: batchEvents(msg), conn, bytes: Buffer.from(data) });
        if (this.autoAck && hello) {
          const key = `${hello.server}/${hello.epoch}`;
          this.durable.set(key, Math.max(this.durable.get(key) ?? 0, msg.seq));
          ws.send(encode({ op: Op.Ack, seq: msg.seq }));
        }
        return;
      }
      if (msg.op === Op.PrizeAck) {
        this.prizeAcks.push(...msg.ids);
        this.prizeAckMessages.push([...msg.ids]);
      }
    });
  }

  /** Welcomes the current connection (when autoWelcome is off). */
  welcomeNow(): void {
    const h = this.hellos.at(-1);
    if (!this.current || !h) throw new Error('fake gateway: no hello to welcome');
    this.welcome(this.current, h);
  }

  private welcome(ws: WebSocket, h: Hello): void {
    const durable = this.durableOverride ?? this.durable.get(`${h.server}/${h.epoch}`) ?? 0;
    ws.send(encode({ op: Op.Welcome, durable }));
  }
}

/** Polls `cond` until it holds (real time; for socket round trips). */
export async function until(cond: () => boolean, what = 'condition', timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
