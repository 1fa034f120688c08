/**
 * Batches through the gateway into REAL kinesalite (read back from every shard), with
 * durable seqs in REAL Redis: records, parts, resends, gaps, backpressure, failures.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kinesisSink } from '../../gateway/kinesis-writer.js';
import { recordKey } from '../../gateway/record-format.js';
import { CloseCode, ErrorCode, Op, type WireEvent } from '../../protocol/index.js';
import { RecordingSink } from './fault-sink.js';
import { startHarness, type Harness } from './harness.js';
import { eventually, joins, readAll, readEventRecords, sleep, startKinesis, TestClient, type Kinesis } from './support.js';

let kinesis: Kinesis;
beforeAll(async () => {
  kinesis = await startKinesis();
});
afterAll(async () => {
  await kinesis.stop();
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function hello(server: string, epoch = 1, url = h!.gw.url): Promise<{ client: TestClient; durable: number }> {
  const res = await TestClient.hello(url, server, epoch);
  h!.clients.push(res.client);
  return res;
}

describe('batches into Kinesis', () => {
  it('writes a batch as a record the worker can decode, then acks it', async () => {
    h = await startHarness(kinesis, {}, 3);
    const { client } = await hello('srv-a', 7);
    const ev: WireEvent[] = [
      { k: 'join', e: 7, n: 1, t: 1000, p: 'p1', i: 1 },
      { k: 'delta', t: 1001.5, i: 1, x: 10, y: 64, z: -20, region: 'r1' },
      { k: 'enter', e: 7, n: 2, t: 1002, p: 'p1', hunt: 'spring', tr: 'oak', region: 'r1', at: [10.5, 64, -20.25] },
    ];
    client.sendBatch(1, ev, 1002);
    expect((await client.next(Op.Ack)).seq).toBe(1);
    const recs = await readEventRecords(kinesis.client, h.stream);
    expect(recs).toEqual([expect.objectContaining({ v: 1, s: 'srv-a', e: 7, q: 1, pt: 0, np: 1, wm: 1002, ev })]);
    expect(recs[0]!.partitionKey).toBe('srv-a/7/1/0');
    expect(await h.redis.get(h.keys.durable('srv-a', 7))).toBe('1');
    expect(h.gw.stats()).toMatchObject({ batches: 1, events: 3, records: 1, duplicateBatches: 0 });
  });

  it('writes a heartbeat (no events) as one record carrying the watermark', async () => {
    h = await startHarness(kinesis);
    const { client } = await hello('srv-a');
    client.sendBatch(1, [], 123_456);
    await client.next(Op.Ack);
    expect(await readEventRecords(kinesis.client, h.stream)).toEqual([expect.objectContaining({ q: 1, pt: 0, np: 1, wm: 123_456, ev: [] })]);
  });

  it('splits a large batch into parts under the record target, spread over the shards', async () => {
    h = await startHarness(kinesis, { recordTargetBytes: 4096 }, 4);
    const { client } = await hello('srv-a');
    const ev = joins(2000);
    client.sendBatch(1, ev, 99);
    await client.next(Op.Ack);
    const recs = await readEventRecords(kinesis.client, h.stream);
    const np = recs[0]!.np;
    expect(np).toBeGreaterThan(10);
    expect(recs.length).toBe(np);
    for (const r of recs) {
      expect(r.bytes).toBeLessThanOrEqual(4096);
      expect(r).toMatchObject({ s: 'srv-a', e: 1, q: 1, np, wm: 99 });
    }
    const parts = [...recs].sort((a, b) => a.pt - b.pt);
    expect(parts.map((r) => r.pt)).toEqual([...Array(np).keys()]);
    expect(parts.flatMap((r) => r.ev)).toEqual(ev);
    // Distinct partition keys per part: with this many parts every shard gets some.
    const used = new Set((await readAll(kinesis.client, h.stream)).map((r) => r.shardId));
    expect(used.size).toBe(4);
  });

  it('pipelines batches of one connection but acks them in seq order', async () => {
    // Hold the first call so later batches' writes finish first.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'hold', gate } : undefined));
    h = await startHarness(kinesis, { sink, maxPutsInFlight: 4 });
    const { client } = await hello('srv-a');
    for (let s = 1; s <= 5; s++) client.sendBatch(s, joins(5, s * 5));
    await eventually(() => sink.calls.length >= 2, 5000, 'later batches written');
    await sleep(50);
    expect(client.messages.filter((m) => m.op === Op.Ack)).toEqual([]);
    release();
    expect(await client.acks(5)).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('resends and gaps', () => {
  it('acks a batch resent after a reconnect without writing it again', async () => {
    h = await startHarness(kinesis);
    const a = await hello('srv-a', 3);
    a.client.sendBatch(1, joins(2));
    a.client.sendBatch(2, joins(2, 2));
    expect(await a.client.acks(2)).toEqual([1, 2]);
    a.client.close();
    await a.client.closed;
    const b = await hello('srv-a', 3);
    expect(b.durable).toBe(2);
    b.client.sendBatch(2, joins(2, 2)); // resent: its ack was "lost"
    b.client.sendBatch(3, joins(2, 4));
    expect(await b.client.acks(2)).toEqual([2, 3]);
    const recs = await readEventRecords(kinesis.client, h.stream);
    expect(recs.map(recordKey).sort()).toEqual(['srv-a/3/1/0', 'srv-a/3/2/0', 'srv-a/3/3/0']);
    expect(h.gw.stats()).toMatchObject({ batches: 4, duplicateBatches: 1 });
  });

  it('recognises a resend on another gateway instance (durable seq is in Redis)', async () => {
    h = await startHarness(kinesis);
    const gw2 = await h.second();
    const a = await hello('srv-a');
    a.client.sendBatch(1, joins(1));
    await a.client.next(Op.Ack);
    a.client.close();
    const b = await hello('srv-a', 1, gw2.url);
    expect(b.durable).toBe(1);
    b.client.sendBatch(1, joins(1));
    expect((await b.client.next(Op.Ack)).seq).toBe(1);
    expect(gw2.stats().duplicateBatches).toBe(1);
    expect((await readEventRecords(kinesis.client, h.stream)).length).toBe(1);
  });

  it('acks a duplicate on the same connection after the batch it duplicates', async () => {
    h = await startHarness(kinesis);
    const { client } = await hello('srv-a');
    client.sendBatch(1, joins(1));
    client.sendBatch(1, joins(1));
    client.sendBatch(2, joins(1, 1));
    expect(await client.acks(3)).toEqual([1, 1, 2]);
    expect((await readEventRecords(kinesis.client, h.stream)).length).toBe(2);
  });

  it('logs and counts a seq gap, still writes the batch, and writes a skipped seq that arrives late', async () => {
    h = await startHarness(kinesis);
    const { client } = await hello('srv-a');
    client.sendBatch(1, joins(1));
    client.sendBatch(4, joins(1, 4));
    expect(await client.acks(2)).toEqual([1, 4]);
    expect(h.gw.stats().seqGaps).toBe(1);
    client.sendBatch(3, joins(1, 3)); // reordered, not a resend
    expect((await client.next(Op.Ack)).seq).toBe(3);
    const keys = (await readEventRecords(kinesis.client, h.stream)).map(recordKey).sort();
    expect(keys).toEqual(['srv-a/1/1/0', 'srv-a/1/3/0', 'srv-a/1/4/0']);
    expect(h.gw.stats().duplicateBatches).toBe(0);
  });
});

describe('limits and failures', () => {
  it('stops reading a connection whose unacked bytes reach the cap, and resumes as acks come', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink = new RecordingSink(kinesisSink(kinesis.client), () => ({ kind: 'hold', gate }));
    const cap = 256 * 1024;
    h = await startHarness(kinesis, { sink, maxUnackedBytes: cap });
    const other = await hello('srv-other');
    const { client } = await hello('srv-a');
    const ev = joins(1000); // ~60 KB per batch
    const n = 40; // ~2.4 MB in all: far over the cap
    for (let s = 1; s <= n; s++) client.sendBatch(s, ev);
    await eventually(() => h!.gw.stats().pausedConnections === 1, 5000, 'connection paused');
    await sleep(200);
    const received = h.gw.stats().batches;
    // What was read is bounded by the cap plus what one socket read can hold, not by what was sent.
    expect(received).toBeLessThan(n / 2);
    expect(received * 60_000).toBeLessThan(cap + 256 * 1024);
    release();
    expect(await client.acks(n, 30_000)).toEqual([...Array(n).keys()].map((i) => i + 1));
    expect(h.gw.stats().pausedConnections).toBe(0);
    other.client.sendBatch(1, []);
    await other.client.next(Op.Ack);
  });

  it('closes with Internal, without acking, when Kinesis cannot take the batch', async () => {
    h = await startHarness(kinesis, { stream: 'no-such-stream' });
    const other = await hello('srv-other');
    const { client } = await hello('srv-a');
    client.sendBatch(1, joins(2));
    expect((await client.closed).code).toBe(CloseCode.Internal);
    const err = await client.next(Op.Error, 1000);
    expect(err.code).toBe(ErrorCode.Internal);
    expect(err.message).toMatch(/batch 1 .*ResourceNotFoundException/);
    expect(client.messages.some((m) => m.op === Op.Ack)).toBe(false);
    expect(await h.redis.get(h.keys.durable('srv-a', 1))).toBeNull();
    expect(other.client.ws.readyState).toBe(other.client.ws.OPEN);
  });

  it('close() lets in-flight batches finish and be acked before the connection closes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'hold', gate } : undefined));
    h = await startHarness(kinesis, { sink });
    const { client } = await hello('srv-a');
    client.sendBatch(1, joins(3));
    await eventually(() => sink.calls.length === 1, 5000, 'put started');
    const closing = h.gw.close();
    await sleep(50);
    release();
    await closing;
    expect((await client.next(Op.Ack)).seq).toBe(1);
    expect((await client.closed).code).toBe(CloseCode.GoingAway);
    expect((await readEventRecords(kinesis.client, h.stream)).length).toBe(1);
  });
});
