/**
 * Prize delivery from each server's prize stream in REAL Redis, through the gateway, to
 * the connected client: order, acks, redelivery after reconnect, unknown entries.
 */
import { beforeEach, describe, expect } from 'vitest';
import { ensureDeliveryGroup } from '../../gateway/delivery.js';
import { DELIVERY_GROUP } from '../../backend/redis/keys.js';
import { Cap, MAX_PRIZES_PER_FRAME, Op, type GatewayMessage } from '../../protocol/index.js';
import { gatewayTest as it, type GatewayFixtures } from '../support/fixtures.js';
import type { Harness } from './harness.js';
import { eventually, TestClient } from './support.js';

let h: Harness;
beforeEach<GatewayFixtures>(async ({ gateway }) => {
  h = await gateway();
});

async function addPrize(server: string, reason: string, player = 'p1'): Promise<string> {
  return (await h.redis.xadd(h.keys.prizeStream(server), '*', 'kind', 'prize', 'hunt', 'spring', 'reason', reason, 'player', player, 'item', 'gold_ingot', 'count', '5'))!;
}
async function addClosed(server: string, start: number, end: number): Promise<string> {
  return (await h.redis.xadd(h.keys.prizeStream(server), '*', 'kind', 'closed', 'hunt', 'spring', 'start', String(start), 'end', String(end)))!;
}

async function hello(server: string): Promise<TestClient> {
  const { client } = await TestClient.hello(h.gw.url, server);
  h.clients.push(client);
  return client;
}

/** The next `n` deliveries (Prize or WindowClosed), in arrival order. */
async function deliveries(c: TestClient, n: number, timeoutMs = 10_000): Promise<GatewayMessage[]> {
  const isDelivery = (m: GatewayMessage) => m.op === Op.Prize || m.op === Op.WindowClosed;
  await eventually(() => c.messages.filter(isDelivery).length >= n, timeoutMs, `${n} deliveries`);
  const out: GatewayMessage[] = [];
  for (let i = 0; i < c.messages.length && out.length < n; ) {
    if (isDelivery(c.messages[i]!)) out.push(c.messages.splice(i, 1)[0]!);
    else i++;
  }
  return out;
}

/** The delivery readers' Redis connections of this test's gateway (each named after its stream key). */
async function readers(): Promise<string[]> {
  return ((await h.redis.call('CLIENT', 'LIST')) as string).split('\n').filter((l) => l.includes(`name=cairn-delivery:${h.keys.prefix}:`));
}

async function pendingIds(server: string): Promise<string[]> {
  try {
    const rows = (await h.redis.call('XPENDING', h.keys.prizeStream(server), DELIVERY_GROUP, '-', '+', '100')) as [string, string, number, number][];
    return rows.map((r) => r[0]);
  } catch (err) {
    if (String(err).includes('NOGROUP')) return [];
    throw err;
  }
}

describe('delivery', () => {
  it('pushes entries written before and after the hello as Prize / WindowClosed, in stream order', async () => {
    const id1 = await addPrize('srv-a', 'treasure:oak:1');
    const id2 = await addPrize('srv-a', 'treasure:oak:2', 'p2');
    await addPrize('srv-b', 'treasure:oak:3', 'p3'); // another server's stream
    const c = await hello('srv-a');
    const id3 = await addClosed('srv-a', 0, 60_000);
    const id4 = await addPrize('srv-a', 'completion:1');
    const got = await deliveries(c, 4);
    expect(got).toEqual([
      { op: Op.Prize, id: id1, hunt: 'spring', reason: 'treasure:oak:1', player: 'p1', item: 'gold_ingot', count: 5 },
      { op: Op.Prize, id: id2, hunt: 'spring', reason: 'treasure:oak:2', player: 'p2', item: 'gold_ingot', count: 5 },
      { op: Op.WindowClosed, id: id3, hunt: 'spring', start: 0, end: 60_000 },
      { op: Op.Prize, id: id4, hunt: 'spring', reason: 'completion:1', player: 'p1', item: 'gold_ingot', count: 5 },
    ]);
    // A marker appended after srv-b's prize: once it arrives, the reader has read past everything before it.
    const marker = await addPrize('srv-a', 'marker');
    expect(await deliveries(c, 1)).toMatchObject([{ op: Op.Prize, id: marker }]);
    expect(c.messages.filter((m) => m.op === Op.Prize)).toEqual([]); // srv-b's prize is not ours
    expect(h.gw.stats().prizesDelivered).toBe(5);
  });

  it('to a plugin that takes Prizes frames: what one read returns in as few frames as the cap allows, in stream order; acked the same way', async () => {
    const n = MAX_PRIZES_PER_FRAME + 5;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await addPrize('srv-a', `treasure:oak:${i + 1}`, `p${i}`));
    ids.push(await addClosed('srv-a', 0, 60_000));
    const { client: c } = await TestClient.hello(h.gw.url, 'srv-a', 1, undefined, [Cap.Prizes, 'some-later-feature']);
    h.clients.push(c);
    await eventually(() => c.messages.filter((m) => m.op === Op.Prizes).reduce((k, m) => k + (m.op === Op.Prizes ? m.items.length : 0), 0) === n + 1, 10_000, 'every entry');
    const frames = c.messages.filter((m) => m.op === Op.Prizes);
    expect(frames.map((f) => (f.op === Op.Prizes ? f.items.length : 0))).toEqual([MAX_PRIZES_PER_FRAME, 6]);
    const items = frames.flatMap((f) => (f.op === Op.Prizes ? f.items : []));
    expect(items.map((m) => m.id)).toEqual(ids);
    expect(items[0]).toEqual({ op: Op.Prize, id: ids[0], hunt: 'spring', reason: 'treasure:oak:1', player: 'p0', item: 'gold_ingot', count: 5 });
    expect(items.at(-1)).toEqual({ op: Op.WindowClosed, id: ids.at(-1), hunt: 'spring', start: 0, end: 60_000 });
    expect(c.messages.filter((m) => m.op === Op.Prize || m.op === Op.WindowClosed)).toEqual([]);
    expect(h.gw.stats().prizesDelivered).toBe(n + 1);
    c.sendMsg({ op: Op.PrizeAck, ids });
    await eventually(async () => (await pendingIds('srv-a')).length === 0, 5000, 'all acked');
  });

  it('redelivers unacked entries after a reconnect, first and in order; acked ones never again', async () => {
    const ids = [await addPrize('srv-a', 'r:1'), await addPrize('srv-a', 'r:2'), await addPrize('srv-a', 'r:3')];
    const c1 = await hello('srv-a');
    expect((await deliveries(c1, 3)).map((m) => (m as { id: string }).id)).toEqual(ids);
    c1.sendMsg({ op: Op.PrizeAck, ids: [ids[0]] });
    await eventually(async () => (await pendingIds('srv-a')).length === 2, 5000, 'XACK of the first');
    c1.close();
    await c1.closed;
    const id4 = await addPrize('srv-a', 'r:4');
    const c2 = await hello('srv-a');
    const again = await deliveries(c2, 3);
    expect(again.map((m) => (m as { id: string }).id)).toEqual([ids[1], ids[2], id4]);
    c2.sendMsg({ op: Op.PrizeAck, ids: [ids[1], ids[2], id4] });
    await eventually(async () => (await pendingIds('srv-a')).length === 0, 5000, 'all acked');
    expect(h.gw.stats().prizeAcks).toBe(4);
    c2.close();
    await c2.closed;
    const c3 = await hello('srv-a');
    // A reader delivers its pending entries before new ones: when a new marker arrives first, nothing acked came back.
    const marker = await addPrize('srv-a', 'marker');
    expect((await deliveries(c3, 1)).map((m) => (m as { id: string }).id)).toEqual([marker]);
    expect(c3.messages.filter((m) => m.op === Op.Prize)).toEqual([]);
  });

  it('redelivers to the connection that replaced the old one', async () => {
    const id = await addPrize('srv-a', 'r:1');
    const c1 = await hello('srv-a');
    await deliveries(c1, 1);
    const c2 = await hello('srv-a'); // replaces c1 without a disconnect first
    expect((await deliveries(c2, 1))[0]).toMatchObject({ op: Op.Prize, id });
    const id2 = await addPrize('srv-a', 'r:2');
    expect((await deliveries(c2, 1))[0]).toMatchObject({ op: Op.Prize, id: id2 });
  });

  it('acks entries of unknown kind without delivering them, and counts them', async () => {
    const bad = (await h.redis.xadd(h.keys.prizeStream('srv-a'), '*', 'kind', 'bonus', 'hunt', 'spring'))!;
    const good = await addPrize('srv-a', 'r:1');
    const c = await hello('srv-a');
    expect((await deliveries(c, 1))[0]).toMatchObject({ op: Op.Prize, id: good });
    await eventually(async () => !(await pendingIds('srv-a')).includes(bad), 5000, 'unknown entry acked');
    expect(await pendingIds('srv-a')).toEqual([good]);
    expect(h.gw.stats().unknownPrizeEntries).toBe(1);
  });

  it('stops reading on disconnect: entries added while no one is connected wait for the next hello', async () => {
    await ensureDeliveryGroup(h.redis, h.keys.prizeStream('srv-a'));
    const c1 = await hello('srv-a');
    await eventually(async () => (await readers()).length === 1, 5000, 'the delivery reader of srv-a');
    c1.close();
    await c1.closed;
    // The reader's own Redis connection (named after the stream) is gone: nothing can read for srv-a.
    await eventually(async () => (await readers()).length === 0, 5000, 'the reader stopped');
    const id = await addPrize('srv-a', 'r:1');
    expect(await pendingIds('srv-a')).toEqual([]); // nobody claimed it
    const c2 = await hello('srv-a');
    expect((await deliveries(c2, 1))[0]).toMatchObject({ id });
  });

  it('close() stops every delivery reader promptly', async () => {
    await hello('srv-a');
    await hello('srv-b');
    await eventually(async () => (await readers()).length === 2, 5000, 'two readers');
    const t0 = Date.now();
    await h.gw.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    // No reader connection of this gateway is left (they are named after their stream key).
    expect(await readers()).toEqual([]);
  });
});
