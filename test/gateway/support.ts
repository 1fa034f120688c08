/**
 * Helpers for gateway tests: a stream per test on the file's kinesalite (see
 * ../support/fixtures.ts), reading every record back from every shard, and a small
 * WebSocket test client.
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { WebSocket } from 'ws';
import { ensureStream } from '../../backend/kinesis/client.js';
import { decodeRecord, type EventRecord } from '../../backend/kinesis/record-format.js';
import { decodeGatewayMessage, decodeMoves, encode, Op, PROTOCOL_VERSION, type DiscreteEvent, type GatewayMessage, type WireEvent } from '../../protocol/index.js';
import { encodeBatch } from '../../plugin/batch-encoder.js';

export const TOKEN = 'test-token-0123456789';

export async function newStream(client: KinesisClient, shards = 2): Promise<string> {
  const name = `cairn-test-${randomBytes(4).toString('hex')}`;
  await ensureStream(client, name, shards);
  return name;
}

export interface StoredRecord {
  shardId: string;
  partitionKey: string;
  sequenceNumber: string;
  data: Buffer;
}

/** Every record in the stream, shard by shard (TRIM_HORIZON to the end). */
export async function readAll(client: KinesisClient, stream: string): Promise<StoredRecord[]> {
  const shards = (await client.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  const out: StoredRecord[] = [];
  for (const shard of shards) {
    let it = (await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    for (;;) {
      const res = await client.send(new GetRecordsCommand({ ShardIterator: it!, Limit: 10_000 }));
      for (const r of res.Records ?? []) out.push({ shardId: shard.ShardId!, partitionKey: r.PartitionKey!, sequenceNumber: r.SequenceNumber!, data: Buffer.from(r.Data!) });
      if (!res.Records?.length || !res.NextShardIterator) break;
      it = res.NextShardIterator;
    }
  }
  return out;
}

/** A user record as the reference deaggregator (awslabs' aws-kinesis-agg) gives it. */
export interface LibUserRecord {
  partitionKey: string;
  explicitPartitionKey?: string;
  sequenceNumber: string;
  subSequenceNumber?: number;
  /** base64 */
  data: string;
}

interface AwsKinesisAgg {
  deaggregateSync(
    record: { partitionKey: string; sequenceNumber: string; data: string },
    computeChecksums: boolean,
    done: (err: Error | null | undefined, users?: LibUserRecord[]) => void,
  ): void;
  RecordAggregator: new (onReady?: (err: Error | null, encoded?: { partitionKey: string; data: Buffer; ExplicitHashKey?: string }) => void) => {
    addUserRecord(r: { partitionKey: string; explicitHashKey?: string; data: Buffer }): void;
    aggregateRecords(records: { partitionKey: string; explicitHashKey?: string; data: Buffer }[], forceFlush: boolean, onReady?: (err: Error | null, encoded?: { partitionKey: string; data: Buffer }) => void): void;
    build(): { partitionKey: string; data: Buffer; ExplicitHashKey?: string } | undefined;
  };
}

/** awslabs/kinesis-aggregation's Node module (its own typings reference aws-sdk v2 and aws-lambda, which we do not install). */
export const awsKinesisAgg = createRequire(import.meta.url)('aws-kinesis-agg') as AwsKinesisAgg;

/** The user records of a stored record, deaggregated by aws-kinesis-agg with its MD5 checksum verified. */
export function libDeaggregate(rec: { partitionKey: string; sequenceNumber?: string; data: Buffer }): LibUserRecord[] {
  let out: LibUserRecord[] | undefined;
  let failure: Error | undefined;
  awsKinesisAgg.deaggregateSync({ partitionKey: rec.partitionKey, sequenceNumber: rec.sequenceNumber ?? '0', data: rec.data.toString('base64') }, true, (err, users) => {
    if (err) failure = err;
    else out = users;
  });
  if (failure) throw failure;
  return out!;
}

/** A record as the tests compare it: `ev` with the moves block's deltas too. */
export type RecordView = Omit<EventRecord, 'ev'> & { ev: WireEvent[] };

export interface ReadUserRecord extends RecordView {
  shardId: string;
  /** Partition key and explicit hash key of the user record. */
  partitionKey: string;
  explicitHashKey: string | undefined;
  /** Partition key of the Kinesis record that carried it. */
  kinesisPartitionKey: string;
  sequenceNumber: string;
  subSequenceNumber: number | undefined;
  /** Data + partition key bytes of the Kinesis record that carried it. */
  kinesisBytes: number;
}

/**
 * Every user record in the stream, read back from kinesalite and deaggregated with
 * aws-kinesis-agg (checksums verified), decoded as the worker decodes them; `ev` also
 * holds the deltas of the record's moves block (decoded), after its discrete events.
 */
export async function readEventRecords(client: KinesisClient, stream: string): Promise<ReadUserRecord[]> {
  const out: ReadUserRecord[] = [];
  for (const r of await readAll(client, stream)) {
    for (const u of libDeaggregate(r)) {
      const rec = decodeRecord(Buffer.from(u.data, 'base64'));
      out.push({
        ...rec,
        ev: rec.mv ? [...rec.ev, ...decodeMoves(rec.mv).deltas] : rec.ev,
        shardId: r.shardId,
        partitionKey: u.partitionKey,
        explicitHashKey: u.explicitPartitionKey,
        kinesisPartitionKey: r.partitionKey,
        sequenceNumber: r.sequenceNumber,
        subSequenceNumber: u.subSequenceNumber,
        kinesisBytes: r.data.length + Buffer.byteLength(r.partitionKey),
      });
    }
  }
  return out;
}

/** The events of stored user records, one list per distinct idempotency key (copies must be identical). */
export function eventsByKey(records: readonly RecordView[]): Map<string, WireEvent[]> {
  const byKey = new Map<string, WireEvent[]>();
  for (const r of records) {
    const k = `${r.s}/${r.e}/${r.q}/${r.pt}`;
    const prev = byKey.get(k);
    if (prev && JSON.stringify(prev) !== JSON.stringify(r.ev)) throw new Error(`two copies of ${k} differ`);
    byKey.set(k, r.ev);
  }
  return byKey;
}

/**
 * What downstream holds, per batch (server/epoch/seq): its events, parts in part order,
 * deduplicated by idempotency key. Throws when two copies of a key differ, when a batch
 * lacks a part, or when its parts disagree on the part count or watermark.
 */
export function batchesDownstream(records: readonly RecordView[]): Map<string, { wm: number; ev: WireEvent[]; copies: number }> {
  const byKey = eventsByKey(records);
  const parts = new Map<string, { np: number; wm: number; pts: Map<number, WireEvent[]>; copies: number }>();
  for (const r of records) {
    const b = `${r.s}/${r.e}/${r.q}`;
    let p = parts.get(b);
    if (!p) parts.set(b, (p = { np: r.np, wm: r.wm, pts: new Map(), copies: 0 }));
    if (p.np !== r.np || p.wm !== r.wm) throw new Error(`batch ${b}: parts disagree on np or wm`);
    p.copies++;
    p.pts.set(r.pt, byKey.get(`${b}/${r.pt}`)!);
  }
  const out = new Map<string, { wm: number; ev: WireEvent[]; copies: number }>();
  for (const [b, p] of parts) {
    if (p.pts.size !== p.np) throw new Error(`batch ${b}: ${p.pts.size} of ${p.np} parts downstream`);
    const ev = [...Array(p.np).keys()].flatMap((pt) => p.pts.get(pt)!);
    out.set(b, { wm: p.wm, ev, copies: p.copies / p.np });
  }
  return out;
}

/** Sorts events by (epoch, counter) for discrete ones, then time: a batch's events whatever the bucket split. */
export function canonical(ev: readonly WireEvent[]): WireEvent[] {
  const key = (e: WireEvent) => JSON.stringify(e);
  return [...ev].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Polls until `fn` returns a truthy value or the timeout passes. */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A WebSocket client that queues decoded gateway messages and remembers how it was closed. */
export class TestClient {
  readonly messages: GatewayMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.messages.push(decodeGatewayMessage(data));
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async connect(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    const c = new TestClient(ws);
    await once(ws, 'open');
    return c;
  }

  /** Connects and says hello (naming `caps`, when given); resolves with the welcome's durable seq. */
  static async hello(url: string, server: string, epoch = 1, token = TOKEN, caps?: string[]): Promise<{ client: TestClient; durable: number }> {
    const c = await TestClient.connect(url);
    c.sendMsg({ op: Op.Hello, v: PROTOCOL_VERSION, server, epoch, token, ...(caps ? { caps } : {}) });
    const w = await c.next(Op.Welcome);
    return { client: c, durable: w.durable };
  }

  sendMsg(msg: object): void {
    this.ws.send(encode(msg));
  }

  /** Sends a batch as a plugin frames it: discrete events in `ev`, deltas in the moves block. */
  sendBatch(seq: number, ev: WireEvent[], wm = 0, quantum?: number): void {
    this.ws.send(encodeBatch(seq, wm, ev, quantum));
  }

  /** Takes the first queued message with op `op` (waiting for it), leaving others queued. */
  async next<O extends GatewayMessage['op']>(op: O, timeoutMs = 10_000): Promise<Extract<GatewayMessage, { op: O }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex((m) => m.op === op);
      if (i >= 0) return this.messages.splice(i, 1)[0] as Extract<GatewayMessage, { op: O }>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message with op ${op} within ${timeoutMs} ms (queued: ${JSON.stringify(this.messages)})`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(Math.min(left, 200))]);
    }
  }

  /** Waits until acks for every seq in `seqs` arrived; returns them in arrival order. */
  async acks(count: number, timeoutMs = 10_000): Promise<number[]> {
    const out: number[] = [];
    while (out.length < count) out.push((await this.next(Op.Ack, timeoutMs)).seq);
    return out;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

/** n discrete join events with distinct counters. */
export function joins(n: number, from = 0, t0 = 1_764_331_200_000): DiscreteEvent[] {
  return Array.from({ length: n }, (_, i) => ({ k: 'join' as const, e: 1, n: from + i, t: t0 + from + i, p: `player-${from + i}`, i: from + i }));
}
