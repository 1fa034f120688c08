import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Op, type Prize } from '../../protocol/index.js';
import { LEDGER_FILE } from '../../plugin/prize-ledger.js';
import { until } from './support/fake-gateway.js';
import { harness, type Harness } from './support/harness.js';
import { gate, roundTrip, testIo } from './support/ledger-io.js';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await h.cleanup();
});

const prize = (id: string, over: Partial<Prize> = {}): Prize => ({
  op: Op.Prize,
  id,
  hunt: 'spring',
  reason: 'treasure:oak:1',
  player: 'p1',
  item: 'gold_ingot',
  count: 5,
  ...over,
});

const ledgerLines = async () =>
  (await readFile(join(h.dir, LEDGER_FILE), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { status: string; hunt: string; reason: string; id: string });

describe('prize ledger: exactly once', () => {
  it('grants a prize once however often the gateway delivers it, acking every delivery', async () => {
    h.host.online.add('p1');
    const p = await h.start();
    h.gw.send(prize('1-0'));
    h.gw.send(prize('1-0'));
    h.gw.send(prize('1-1')); // a resend with a new delivery id
    await until(() => h.gw.prizeAcks.length === 3, 'three acks');
    expect(h.gw.prizeAcks).toEqual(['1-0', '1-0', '1-1']);
    expect(h.host.given).toEqual([{ player: 'p1', item: 'gold_ingot', count: 5 }]);
    expect(h.host.toldTo('p1')).toEqual(['You won 5 x gold_ingot (spring: treasure oak, rank 1)!']);
    expect(p.prizes()).toEqual([{ hunt: 'spring', reason: 'treasure:oak:1', player: 'p1', server: 'srv-a', item: 'gold_ingot', count: 5, status: 'granted' }]);
    expect(p.stats().prizesGranted).toBe(1);
    expect((await ledgerLines()).map((l) => l.status)).toEqual(['giving', 'granted']);
  });

  it('a restarted plugin on the same data folder does not grant again', async () => {
    h.host.online.add('p1');
    const a = await h.start();
    h.gw.send(prize('1-0'));
    await until(() => h.gw.prizeAcks.length === 1, 'first ack');
    await a.stop(1000);
    const b = await h.start();
    h.gw.send(prize('2-0'));
    await until(() => h.gw.prizeAcks.length === 2, 'ack after restart');
    expect(h.host.given).toHaveLength(1);
    expect(b.prizes()).toEqual([expect.objectContaining({ reason: 'treasure:oak:1', status: 'granted' })]);
    expect(b.stats().prizesGranted).toBe(0);
  });

  it('holds the prize of an offline player and grants it when they join, once, even across a restart', async () => {
    const a = await h.start();
    h.gw.send(prize('1-0', { player: 'away' }));
    await until(() => h.gw.prizeAcks.length === 1, 'ack of the held prize');
    expect(h.host.given).toEqual([]);
    expect(a.prizes()).toEqual([expect.objectContaining({ player: 'away', status: 'pending' })]);
    expect(a.stats().prizesHeld).toBe(1);
    await a.stop(1000);

    const b = await h.start();
    h.gw.send(prize('1-0', { player: 'away' })); // redelivered: still just held
    await until(() => h.gw.prizeAcks.length === 2, 'second ack');
    h.host.online.add('away');
    b.accept({ type: 'join', t: h.host.clock + 1, player: 'away' });
    await until(() => h.host.given.length === 1, 'the grant on join');
    await until(() => b.prizes()[0]?.status === 'granted', 'ledger says granted');
    b.accept({ type: 'leave', t: h.host.clock + 2, player: 'away' });
    b.accept({ type: 'join', t: h.host.clock + 3, player: 'away' });
    await new Promise((r) => setTimeout(r, 30));
    expect(h.host.given).toEqual([{ player: 'away', item: 'gold_ingot', count: 5 }]);
    expect((await ledgerLines()).map((l) => l.status)).toEqual(['held', 'giving', 'granted']);
    expect(b.stats()).toMatchObject({ prizesGranted: 1, prizesHeld: 0 });
  });

  it('holds the prize when giveItem fails for an online player, and tells them', async () => {
    h.host.online.add('full');
    h.host.cannotReceive.add('full');
    const p = await h.start();
    h.gw.send(prize('1-0', { player: 'full' }));
    await until(() => h.gw.prizeAcks.length === 1, 'ack');
    expect(p.prizes()[0]?.status).toBe('pending');
    expect(h.host.toldTo('full')[0]).toMatch(/could not be given to you now/);
  });

  it('gives only once the intent is durable, and acks only once the outcome is', async () => {
    h.host.online.add('p1');
    const io = testIo();
    const intent = gate();
    const outcome = gate();
    io.beforeSync = () => (io.syncs === 1 ? intent.wait() : outcome.wait());
    const p = await h.start({ ledgerIo: io });
    h.gw.send(prize('1-0'));
    await intent.reached;
    expect(h.host.given).toHaveLength(0); // recorded as an intent, then given
    intent.open();
    await outcome.reached;
    expect(h.host.given).toHaveLength(1);
    await roundTrip(h, p);
    expect(h.gw.prizeAcks).toEqual([]);
    outcome.open();
    await until(() => h.gw.prizeAcks.length === 1, 'the ack');
    expect(await ledgerLines()).toEqual([expect.objectContaining({ id: '1-0', status: 'giving' }), expect.objectContaining({ id: '1-0', status: 'granted' })]);
  });

  it('a torn last line (crash during an append) is cut off, and the prize is granted on redelivery', async () => {
    await appendFile(join(h.dir, LEDGER_FILE), '{"hunt":"spring","reason":"treasure:oak:1","pla');
    h.host.online.add('p1');
    const p = await h.start();
    h.gw.send(prize('1-0'));
    await until(() => h.gw.prizeAcks.length === 1, 'ack');
    expect(h.host.given).toHaveLength(1);
    expect(p.prizes()).toHaveLength(1);
    expect((await ledgerLines()).map((l) => l.status)).toEqual(['giving', 'granted']);
  });
});

describe('window closed', () => {
  it('tracks closedThrough per hunt, emits window-closed, acks it, and resolves waitClosed', async () => {
    h.host.online.add('p1');
    const p = await h.start();
    const seen: Array<{ hunt: string; start: number; end: number; prizes: number }> = [];
    const throughSeen: Array<number | undefined> = [];
    p.on('window-closed', (w: { hunt: string; start: number; end: number }) => {
      seen.push({ ...w, prizes: p.prizes().length });
      throughSeen.push(p.closedThrough('spring'));
    });
    let waited = false;
    const wait = p.waitClosed('spring', 120_000).then(() => (waited = true));
    expect(p.closedThrough('spring')).toBeUndefined();
    h.gw.send(prize('1-0'));
    h.gw.send({ op: Op.WindowClosed, id: '1-1', hunt: 'spring', start: 0, end: 60_000 });
    await until(() => h.gw.prizeAcks.length === 2, 'acks');
    expect(waited).toBe(false);
    h.gw.send({ op: Op.WindowClosed, id: '1-2', hunt: 'spring', start: 60_000, end: 120_000 });
    h.gw.send({ op: Op.WindowClosed, id: '1-3', hunt: 'spring', start: 0, end: 60_000 }); // a late duplicate
    await wait;
    await until(() => h.gw.prizeAcks.length === 4, 'all acks');
    expect(h.gw.prizeAcks).toEqual(['1-0', '1-1', '1-2', '1-3']);
    expect(p.closedThrough('spring')).toBe(120_000);
    expect(p.closedThrough('autumn')).toBeUndefined();
    // the prize before the first window-closed was in the ledger when it was reported
    expect(seen[0]).toEqual({ hunt: 'spring', start: 0, end: 60_000, prizes: 1 });
    expect(throughSeen).toEqual([60_000, 120_000, 120_000]); // listeners already see the new value
    await p.waitClosed('spring', 60_000); // already closed: at once
  });

  it('waitClosed rejects when the plugin stops first', async () => {
    const p = await h.start();
    const wait = p.waitClosed('spring', 1);
    await p.stop(100);
    await expect(wait).rejects.toThrow(/stopped/);
  });
});
