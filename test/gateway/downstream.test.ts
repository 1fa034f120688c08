/**
 * What reaches the stream, batch by batch, when things go wrong: resent and
 * reordered batches, a stale epoch, a seq gap, partial PutRecords failures, throttling
 * and a timeout after a successful put. Plugins talk to a real gateway over WebSocket;
 * the stream is REAL kinesalite, read back and deaggregated with aws-kinesis-agg
 * (checksums verified). Each scenario must leave exactly the events of the batches it
 * wrote: none lost, and a batch twice only as identical copies under the same keys,
 * where a put timed out after Kinesis had stored it or a resend raced the first write.
 */
import { describe, expect } from 'vitest';
import { kinesisSink } from '../../gateway/kinesis-writer/sink.js';
import { recordKey } from '../../backend/kinesis/record-format.js';
import { CloseCode, Op, PROTOCOL_VERSION, type WireEvent } from '../../protocol/index.js';
import { chaosPlan, RecordingSink, userRecordKeys, type Fault } from './fault-sink.js';
import { gatewayTest as it } from '../support/fixtures.js';
import type { Harness } from './harness.js';
import { batchesDownstream, canonical, eventually, readEventRecords, TestClient } from './support.js';

let h: Harness | undefined;

async function hello(server: string, epoch = 1, url = h!.gw.url): Promise<{ client: TestClient; durable: number }> {
  const res = await TestClient.hello(url, server, epoch);
  h!.clients.push(res.client);
  return res;
}

/**
 * A realistic batch: a few players' joins, deltas by session index, enters and leaves,
 * spread over the buckets. Discrete events are numbered by (epoch, seq) so every event
 * of every batch is distinct.
 */
function batchEvents(server: string, epoch: number, seq: number, players = 6): WireEvent[] {
  const ev: WireEvent[] = [];
  const t0 = 1_764_331_200_000 + seq * 1000;
  for (let k = 0; k < players; k++) {
    const p = `${server}-p${(seq * 7 + k) % 40}`;
    const i = (seq * 7 + k) % 40;
    const n = seq * 100 + k * 10;
    ev.push({ k: 'join', e: epoch, n, t: t0 + k, p, i });
    ev.push({ k: 'delta', t: t0 + k, i, x: k, z: seq });
    ev.push({ k: 'enter', e: epoch, n: n + 1, t: t0 + k + 1, p, hunt: 'spring', tr: `t${k}`, region: 'r1', at: [k, 64, seq] });
    if (k % 3 === 0) ev.push({ k: 'leave', e: epoch, n: n + 2, t: t0 + k + 2, p });
  }
  return ev;
}

interface Sent {
  key: string;
  wm: number;
  ev: WireEvent[];
}

function send(c: TestClient, server: string, epoch: number, seq: number, sent?: Map<string, Sent>): void {
  const ev = batchEvents(server, epoch, seq);
  const wm = 1_764_331_200_000 + seq * 1000 + 999;
  c.sendBatch(seq, ev, wm);
  sent?.set(`${server}/${epoch}/${seq}`, { key: `${server}/${epoch}/${seq}`, wm, ev });
}

/**
 * Reads the stream and checks it holds exactly the batches `expected`, each complete
 * (every part), with exactly its events and watermark; copies of a batch identical.
 * Returns how many copies of each batch are there (whole batches), and of each user record.
 */
async function expectDownstream(expected: Map<string, Sent>): Promise<Map<string, number>> {
  return (await downstream(expected)).batches;
}

async function downstream(expected: Map<string, Sent>): Promise<{ batches: Map<string, number>; parts: Map<string, number> }> {
  const records = await readEventRecords(h!.kinesis.client, h!.stream);
  const down = batchesDownstream(records);
  expect([...down.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [key, b] of down) {
    const want = expected.get(key)!;
    expect(canonical(b.ev), key).toEqual(canonical(want.ev));
    expect(b.wm, key).toBe(want.wm);
  }
  // Every user record sits in the bucket its partition key names, under an explicit hash key.
  for (const r of records) expect(r.kinesisPartitionKey).toBe(r.partitionKey);
  // No event twice across different batches: duplicates exist only as copies of one key.
  const distinct = new Set<string>();
  for (const [key, b] of down) for (const e of b.ev) if (e.k !== 'delta') distinct.add(`${key.split('/')[0]}/${e.e}/${e.n}`);
  expect(distinct.size).toBe([...down.values()].reduce((a, b) => a + b.ev.filter((e) => e.k !== 'delta').length, 0));
  const parts = new Map<string, number>();
  for (const r of records) parts.set(recordKey(r), (parts.get(recordKey(r)) ?? 0) + 1);
  return { batches: new Map([...down].map(([k, b]) => [k, b.copies])), parts };
}

/** Batch keys (server/epoch/seq) of the user records a call carried. */
const batchesOfCall = (userKeys: string[][]) => new Set(userKeys.flat().map((k) => k.split('/').slice(0, 3).join('/')));

describe('downstream events under resends and reordering', () => {
  it('resent batches (acked or not) are written once; a reordered batch is written when it arrives', async ({ gateway }) => {
    h = await gateway({}, 3);
    const sent = new Map<string, Sent>();
    const a = await hello('srv-a', 3);
    for (let s = 1; s <= 6; s++) send(a.client, 'srv-a', 3, s, sent);
    expect(await a.client.acks(6)).toEqual([1, 2, 3, 4, 5, 6]);
    a.client.close();
    await a.client.closed;

    const b = await hello('srv-a', 3);
    expect(b.durable).toBe(6);
    for (let s = 4; s <= 6; s++) send(b.client, 'srv-a', 3, s); // acks "lost": resent
    send(b.client, 'srv-a', 3, 8, sent); // 7 is late (reordered)
    send(b.client, 'srv-a', 3, 7, sent);
    send(b.client, 'srv-a', 3, 9, sent);
    expect(await b.client.acks(6)).toEqual([4, 5, 6, 8, 7, 9]);

    const copies = await expectDownstream(sent);
    expect([...copies.values()].every((c) => c === 1)).toBe(true);
    expect(h.gw.stats()).toMatchObject({ duplicateBatches: 3, seqGaps: 1 });
  });

  it('a resend racing its first write (connection lost mid-put) lands twice, as identical copies under one key', async ({ kinesis, gateway }) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    // Hold the first call that carries batch 3, so the connection drops before it is acked.
    const sink = new RecordingSink(kinesisSink(kinesis.client), (_call, input) => {
      if (held) return undefined;
      const carries3 = input.Records.some((r) => batchesOfCall([userRecordKeys(r.Data)]).has('srv-a/1/3'));
      if (!carries3) return undefined;
      held = true;
      return { kind: 'hold', gate };
    });
    h = await gateway({ sink }, 2);
    const sent = new Map<string, Sent>();
    const a = await hello('srv-a');
    send(a.client, 'srv-a', 1, 1, sent);
    send(a.client, 'srv-a', 1, 2, sent);
    expect(await a.client.acks(2)).toEqual([1, 2]);
    send(a.client, 'srv-a', 1, 3, sent);
    await eventually(() => held, 5000, 'batch 3 held in its put');
    a.client.close();
    await a.client.closed;

    const b = await hello('srv-a');
    expect(b.durable).toBe(2);
    send(b.client, 'srv-a', 1, 3); // the plugin resends what was not acked
    send(b.client, 'srv-a', 1, 4, sent);
    expect(await b.client.acks(2)).toEqual([3, 4]);
    release();
    await eventually(async () => (await expectDownstream(sent).catch(() => undefined))?.get('srv-a/1/3') === 2, 10_000, 'the first write of batch 3 landed too');

    const copies = await expectDownstream(sent);
    expect(Object.fromEntries(copies)).toEqual({ 'srv-a/1/1': 1, 'srv-a/1/2': 1, 'srv-a/1/3': 2, 'srv-a/1/4': 1 });
  });

  it('a seq gap is counted and the batches around it are written; the skipped batch, sent later, too', async ({ gateway }) => {
    h = await gateway();
    const sent = new Map<string, Sent>();
    const { client } = await hello('srv-a');
    send(client, 'srv-a', 1, 1, sent);
    send(client, 'srv-a', 1, 4, sent);
    expect(await client.acks(2)).toEqual([1, 4]);
    expect(h.gw.stats().seqGaps).toBe(1);
    await expectDownstream(sent);
    send(client, 'srv-a', 1, 3, sent);
    send(client, 'srv-a', 1, 2, sent);
    expect(await client.acks(2)).toEqual([3, 2]);
    const copies = await expectDownstream(sent);
    expect([...copies.values()]).toEqual([1, 1, 1, 1]);
  });
});

describe('downstream events under fencing', () => {
  it('a stale epoch writes nothing: its hello is refused, and the newer epoch\'s batches are all there', async ({ gateway }) => {
    h = await gateway();
    const sent = new Map<string, Sent>();
    const cur = await hello('srv-a', 5);
    send(cur.client, 'srv-a', 5, 1, sent);
    await cur.client.next(Op.Ack);

    const stale = await TestClient.connect(h.gw.url);
    h.clients.push(stale);
    stale.sendMsg({ op: Op.Hello, v: PROTOCOL_VERSION, server: 'srv-a', epoch: 4, token: 'test-token-0123456789' });
    // Frames right behind the refused hello are never read as batches.
    send(stale, 'srv-a', 4, 1);
    send(stale, 'srv-a', 4, 2);
    expect((await stale.closed).code).toBe(CloseCode.StaleEpoch);

    send(cur.client, 'srv-a', 5, 2, sent);
    await cur.client.next(Op.Ack);
    const copies = await expectDownstream(sent);
    expect([...copies.keys()].sort()).toEqual(['srv-a/5/1', 'srv-a/5/2']);
    expect(h.gw.stats().staleEpochs).toBe(1);
  });

  it('a fenced instance still connected elsewhere gets no ack; what it had in flight is marked by its old epoch', async ({ kinesis, gateway }) => {
    h = await gateway();
    const gw2 = await h.second();
    const sent = new Map<string, Sent>();
    const old = await hello('srv-a', 1);
    send(old.client, 'srv-a', 1, 1, sent);
    await old.client.next(Op.Ack);
    const fresh = await hello('srv-a', 2, gw2.url);
    send(old.client, 'srv-a', 1, 2);
    expect((await old.client.closed).code).toBe(CloseCode.StaleEpoch);
    expect(old.client.messages.some((m) => m.op === Op.Ack)).toBe(false);
    send(fresh.client, 'srv-a', 2, 1, sent);
    await fresh.client.next(Op.Ack);
    // The zombie's batch 2 raced the fence: the gateway wrote it before Redis said the epoch
    // was fenced, so it may be downstream, complete, under epoch 1's key (never acked, so
    // the plugin never counts it as delivered). Nothing else of epoch 1 is.
    const down = batchesDownstream(await readEventRecords(kinesis.client, h.stream));
    if (down.has('srv-a/1/2')) sent.set('srv-a/1/2', { key: 'srv-a/1/2', wm: 1_764_331_200_000 + 2999, ev: batchEvents('srv-a', 1, 2) });
    await expectDownstream(sent);
  });
});

describe('downstream events under Kinesis faults', () => {
  /**
   * Three servers, `n` batches each, all acked; returns what was sent. Pipelined, or in
   * lockstep (each round acked before the next), which makes at least one call a round.
   */
  async function traffic(n: number, lockstep = false): Promise<Map<string, Sent>> {
    const sent = new Map<string, Sent>();
    const clients = await Promise.all(['srv-a', 'srv-b', 'srv-c'].map(async (s) => ({ s, c: (await hello(s)).client })));
    const acked = new Map(clients.map(({ c }) => [c, [] as number[]]));
    for (let seq = 1; seq <= n; seq++) {
      for (const { s, c } of clients) send(c, s, 1, seq, sent);
      if (lockstep) for (const { c } of clients) acked.get(c)!.push(...(await c.acks(1, 30_000)));
    }
    for (const { c } of clients) {
      if (!lockstep) acked.get(c)!.push(...(await c.acks(n, 30_000)));
      expect(acked.get(c)).toEqual([...Array(n).keys()].map((i) => i + 1));
    }
    return sent;
  }

  it('partial failures: only the failed records are put again, nothing lost, nothing twice', async ({ kinesis, gateway }) => {
    let calls = 0;
    const sink = new RecordingSink(kinesisSink(kinesis.client), (): Fault | undefined =>
      calls++ < 6 ? { kind: 'partial', fail: (i) => (i % 2 === 0 ? 'ProvisionedThroughputExceededException' : i % 3 === 0 ? 'InternalFailure' : undefined) } : undefined,
    );
    h = await gateway({ sink }, 3);
    const sent = await traffic(12);
    expect(h.gw.stats().failedEntries).toBeGreaterThan(0);
    expect(h.gw.stats().putRetries).toBeGreaterThan(0);
    const copies = await expectDownstream(sent);
    expect([...copies.values()].every((c) => c === 1)).toBe(true);
  });

  it('throttling (whole calls and every entry): the writer backs off and everything arrives once', async ({ kinesis, gateway }) => {
    let calls = 0;
    const sink = new RecordingSink(kinesisSink(kinesis.client), (): Fault | undefined => {
      const c = calls++;
      return c < 4 ? (c % 2 ? { kind: 'throttle-call' } : { kind: 'throttle-entries' }) : undefined;
    });
    h = await gateway({ sink }, 2);
    const sent = await traffic(8);
    expect(sink.calls.filter((c) => c.fault !== 'none').length).toBe(4);
    const copies = await expectDownstream(sent);
    expect([...copies.values()].every((c) => c === 1)).toBe(true);
  });

  it('a timeout after a successful put: exactly the batches of that call are there twice, as identical copies', async ({ kinesis, gateway }) => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 1 ? { kind: 'timeout-after-success' } : undefined));
    h = await gateway({ sink }, 2);
    const sent = await traffic(10, true);
    const timedOut = sink.calls.find((c) => c.fault === 'timeout-after-success')!;
    const twice = new Set(timedOut.userKeys.flat());
    expect(twice.size).toBeGreaterThan(0);
    const { parts } = await downstream(sent);
    expect(parts.size).toBeGreaterThan(twice.size);
    for (const [key, n] of parts) expect(n, key).toBe(twice.has(key) ? 2 : 1);
  });

  it('every fault at once, over many calls: every acked batch complete, copies identical', async ({ kinesis, gateway }) => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), chaosPlan(11, 30));
    h = await gateway({ sink, recordTargetBytes: 2048 }, 3);
    const sent = await traffic(15, true);
    expect(new Set(sink.calls.map((c) => c.fault)).size).toBeGreaterThan(2);
    await expectDownstream(sent);
  });
});
