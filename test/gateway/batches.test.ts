/**
 * Batches through the gateway into REAL kinesalite (read back from every shard), with
 * durable seqs in REAL Redis: records, parts, resends, gaps, backpressure, failures.
 */
import { describe, expect } from 'vitest';
import { kinesisSink, listOpenShards } from '../../gateway/kinesis-writer/sink.js';
import { isAggregated } from '../../backend/kinesis/kpl-aggregation.js';
import { bucketHashKey, bucketPartitionKey, partBucket } from '../../backend/kinesis/partition-keys.js';
import { recordKey, RECORD_FORMAT_VERSION } from '../../backend/kinesis/record-format.js';
import { CloseCode, ErrorCode, Op, type WireEvent } from '../../protocol/index.js';
import { RecordingSink } from './fault-sink.js';
import { gatewayTest as it } from '../support/fixtures.js';
import type { Harness } from './harness.js';
import { batchesDownstream, canonical, eventually, joins, libDeaggregate, readAll, readEventRecords, sleep, TestClient } from './support.js';

let h: Harness | undefined;

async function hello(server: string, epoch = 1, url = h!.gw.url): Promise<{ client: TestClient; durable: number }> {
  const res = await TestClient.hello(url, server, epoch);
  h!.clients.push(res.client);
  return res;
}

describe('batches into Kinesis', () => {
  it('writes a batch as a record the worker can decode, then acks it', async ({ kinesis, gateway }) => {
    h = await gateway({}, 3);
    const { client } = await hello('srv-a', 7);
    const ev: WireEvent[] = [
      { k: 'join', e: 7, n: 1, t: 1000, p: 'p1', i: 1 },
      { k: 'delta', t: 1001, i: 1, x: 10, y: 64, z: -20, region: 'r1' },
      { k: 'enter', e: 7, n: 2, t: 1002, p: 'p1', hunt: 'spring', tr: 'oak', region: 'r1', at: [10.5, 64, -20.25] },
    ];
    client.sendBatch(1, ev, 1002);
    expect((await client.next(Op.Ack)).seq).toBe(1);
    // A small batch is one part, placed by its own idempotency key.
    const recs = await readEventRecords(kinesis.client, h.stream);
    expect(recs).toHaveLength(1);
    const [r] = recs;
    expect(r).toMatchObject({ v: RECORD_FORMAT_VERSION, s: 'srv-a', e: 7, q: 1, pt: 0, np: 1, wm: 1002 });
    const vb = partBucket(recordKey(r!));
    expect(r!.kinesisPartitionKey).toBe(bucketPartitionKey(vb));
    expect(r!.partitionKey).toBe(r!.kinesisPartitionKey);
    expect(r!.explicitHashKey).toBe(bucketHashKey(vb));
    expect(canonical([...batchesDownstream(recs).values()][0]!.ev)).toEqual(canonical(ev));
    expect(await h.redis.get(h.keys.durable('srv-a', 7))).toBe('1');
    // events: the discrete ones (the delta rides in the moves block)
    expect(h.gw.stats()).toMatchObject({ batches: 1, events: 2, userRecords: recs.length, duplicateBatches: 0 });
    expect(h.gw.stats().records).toBeLessThanOrEqual(recs.length);
  });

  it('writes a heartbeat (no events) as one record carrying the watermark', async ({ kinesis, gateway }) => {
    h = await gateway();
    const { client } = await hello('srv-a');
    client.sendBatch(1, [], 123_456);
    await client.next(Op.Ack);
    expect(await readEventRecords(kinesis.client, h.stream)).toEqual([expect.objectContaining({ q: 1, pt: 0, np: 1, wm: 123_456, ev: [] })]);
  });

  it('splits a large batch into parts under the record target, spread over every shard by their own keys', async ({ kinesis, gateway }) => {
    h = await gateway({ recordTargetBytes: 4096 }, 4);
    const { client } = await hello('srv-a');
    const ev = joins(2000);
    client.sendBatch(1, ev, 99);
    await client.next(Op.Ack);
    const recs = await readEventRecords(kinesis.client, h.stream);
    const np = recs[0]!.np;
    expect(np).toBeGreaterThan(10);
    expect(recs.length).toBe(np);
    for (const r of recs) {
      expect(r.kinesisBytes).toBeLessThanOrEqual(4096);
      expect(r).toMatchObject({ s: 'srv-a', e: 1, q: 1, np, wm: 99 });
    }
    const [batch] = batchesDownstream(recs).values();
    expect(canonical(batch!.ev)).toEqual(canonical(ev));
    // Parts land all over the key space: every shard holds some, each under a hash key of its own range.
    const ranges = new Map((await listOpenShards(kinesis.client, h.stream)).map((s) => [s.shardId, s]));
    expect(new Set(recs.map((r) => r.shardId)).size).toBe(4);
    for (const r of recs) {
      const range = ranges.get(r.shardId)!;
      expect(BigInt(r.explicitHashKey!) >= BigInt(range.start) && BigInt(r.explicitHashKey!) <= BigInt(range.end)).toBe(true);
    }
    // Every Kinesis record is KPL-aggregated and passes aws-kinesis-agg's checksum.
    for (const r of await readAll(kinesis.client, h.stream)) {
      expect(isAggregated(r.data)).toBe(true);
      expect(libDeaggregate(r).length).toBeGreaterThanOrEqual(1);
    }
  });

  it('pipelines batches of one connection but acks them in seq order', async ({ kinesis, gateway }) => {
    // Hold the first call so later batches' writes finish first.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'hold', gate } : undefined));
    h = await gateway({ sink, maxPutsInFlight: 4 });
    const { client } = await hello('srv-a');
    client.sendBatch(1, joins(5, 5));
    await eventually(() => sink.calls.length === 1, 5000, 'batch 1 in its (held) call');
    for (let s = 2; s <= 5; s++) client.sendBatch(s, joins(5, s * 5));
    await eventually(() => sink.calls.length >= 2, 5000, 'later batches written');
    // Another server's batch, sent after them, goes through a write, a durable raise and its
    // ack: once it is acked, the gateway has had every chance to ack srv-a's later batches.
    const { client: other } = await hello('srv-other');
    other.sendBatch(1, joins(2));
    expect((await other.next(Op.Ack)).seq).toBe(1);
    expect(client.messages.filter((m) => m.op === Op.Ack)).toEqual([]);
    release();
    expect(await client.acks(5)).toEqual([1, 2, 3, 4, 5]);
  });
  it('makes batches whose writes finish together durable with one Redis raise, and still acks each in order', async ({ kinesis, gateway }) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'hold', gate } : undefined));
    h = await gateway({ sink }, 1);
    // Watch, on a connection of its own, every durable raise of this test's server (its key prefix is unique).
    const monitor = await h.redis.monitor();
    const durableKey = h.keys.durable('srv-a', 1);
    const raises: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      // set-durable-2.lua: KEYS[1] is the durable key (the hello script has the server registry first).
      if (args[0]?.toLowerCase() === 'evalsha' && args[3] === durableKey) raises.push(args[5]!);
    });
    try {
      const { client } = await hello('srv-a');
      for (let s = 1; s <= 10; s++) client.sendBatch(s, joins(3, s * 3));
      await eventually(() => h!.gw.stats().batches === 10, 5000, 'all batches received');
      release();
      expect(await client.acks(10)).toEqual([...Array(10).keys()].map((i) => i + 1));
      expect(await h.redis.get(durableKey)).toBe('10');
      // Batch 1 alone (its write finished first), then the others in one or two raises: far fewer than ten.
      expect(raises.length).toBeGreaterThanOrEqual(1);
      expect(raises.length, raises.join(' ')).toBeLessThanOrEqual(3);
      expect(raises[raises.length - 1]).toBe('10');
    } finally {
      monitor.disconnect();
    }
  });
});

describe('resends and gaps', () => {
  it('acks a batch resent after a reconnect without writing it again', async ({ kinesis, gateway }) => {
    h = await gateway();
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
    const down = batchesDownstream(await readEventRecords(kinesis.client, h.stream));
    expect([...down.keys()].sort()).toEqual(['srv-a/3/1', 'srv-a/3/2', 'srv-a/3/3']);
    for (const b of down.values()) expect(b.copies).toBe(1);
    expect(h.gw.stats()).toMatchObject({ batches: 4, duplicateBatches: 1 });
  });

  it('recognises a resend on another gateway instance (durable seq is in Redis)', async ({ kinesis, gateway }) => {
    h = await gateway();
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
    expect([...batchesDownstream(await readEventRecords(kinesis.client, h.stream)).values()].map((b) => b.copies)).toEqual([1]);
  });

  it('acks a duplicate on the same connection after the batch it duplicates', async ({ kinesis, gateway }) => {
    h = await gateway();
    const { client } = await hello('srv-a');
    client.sendBatch(1, joins(1));
    client.sendBatch(1, joins(1));
    client.sendBatch(2, joins(1, 1));
    expect(await client.acks(3)).toEqual([1, 1, 2]);
    expect((await readEventRecords(kinesis.client, h.stream)).length).toBe(2); // one event per batch: one user record each
  });

  it('logs and counts a seq gap, still writes the batch, and writes a skipped seq that arrives late', async ({ kinesis, gateway }) => {
    h = await gateway();
    const { client } = await hello('srv-a');
    client.sendBatch(1, joins(1));
    client.sendBatch(4, joins(1, 4));
    expect(await client.acks(2)).toEqual([1, 4]);
    expect(h.gw.stats().seqGaps).toBe(1);
    client.sendBatch(3, joins(1, 3)); // reordered, not a resend
    expect((await client.next(Op.Ack)).seq).toBe(3);
    const down = batchesDownstream(await readEventRecords(kinesis.client, h.stream));
    expect([...down.keys()].sort()).toEqual(['srv-a/1/1', 'srv-a/1/3', 'srv-a/1/4']);
    expect(h.gw.stats().duplicateBatches).toBe(0);
  });
});

describe('limits and failures', () => {
  it('stops reading a connection whose unacked bytes reach the cap, and resumes as acks come', async ({ kinesis, gateway }) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink = new RecordingSink(kinesisSink(kinesis.client), () => ({ kind: 'hold', gate }));
    const cap = 256 * 1024;
    h = await gateway({ sink, maxUnackedBytes: cap });
    const other = await hello('srv-other');
    const { client } = await hello('srv-a');
    const ev = joins(1000); // ~60 KB per batch
    const n = 40; // ~2.4 MB in all: far over the cap
    for (let s = 1; s <= n; s++) client.sendBatch(s, ev);
    await eventually(() => h!.gw.stats().pausedConnections === 1, 5000, 'connection paused');
    // Every write is held, so no batch can be acked; a query of another server still goes
    // through the gateway (socket reads, a Redis round trip, a reply). Once it is answered,
    // srv-a's socket has had that long to be read, were it not paused.
    for (let id = 1; id <= 3; id++) {
      other.client.sendMsg({ op: Op.Query, id, q: 'status', hunt: 'spring' });
      expect((await other.client.next(Op.Reply)).id).toBe(id);
    }
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

  it('closes with Internal, without acking, when Kinesis cannot take the batch', async ({ gateway }) => {
    h = await gateway({ stream: 'no-such-stream' });
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

  it('close() lets in-flight batches finish and be acked before the connection closes', async ({ kinesis, gateway }) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'hold', gate } : undefined));
    h = await gateway({ sink });
    const { client } = await hello('srv-a');
    client.sendBatch(1, joins(3));
    await eventually(() => sink.calls.length === 1, 5000, 'put started');
    const closing = h.gw.close();
    await sleep(50);
    release();
    await closing;
    expect((await client.next(Op.Ack)).seq).toBe(1);
    expect((await client.closed).code).toBe(CloseCode.GoingAway);
    expect([...batchesDownstream(await readEventRecords(kinesis.client, h.stream)).keys()]).toEqual(['srv-a/1/1']);
  });
});
