/**
 * Group commit in the prize path: prize work that arrives together is recorded with two
 * appends and two fsyncs (intents and holds, then outcomes), then acked in one PrizeAck; nothing is acked or reported before
 * the append that covers it is durable, and a failed or unfinished append acks nothing.
 */
import type { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Op, type Prize, type WindowClosed } from '../../protocol/index.js';
import type { CairnPlugin } from '../../plugin/cairn-plugin.js';
import { LEDGER_FILE, PrizeLedger } from '../../plugin/prize-ledger.js';
import { until } from './support/fake-gateway.js';
import { FakeHost } from './support/fake-host.js';
import { harness, type Harness } from './support/harness.js';
import { gate, roundTrip, testIo } from './support/ledger-io.js';

const prize = (id: string, reason: string, player = 'p1'): Prize => ({ op: Op.Prize, id, hunt: 'spring', reason, player, item: 'gold_ingot', count: 5 });
const closed = (id: string, end: number): WindowClosed => ({ op: Op.WindowClosed, id, hunt: 'spring', start: end - 60_000, end });

const linesOf = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { status: string; reason: string; id: string; player: string });

describe('prize ledger: group commit', () => {
  let dir: string;
  let host: FakeHost;
  const open: PrizeLedger[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-ledger-'));
    host = new FakeHost();
  });
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
    await rm(dir, { recursive: true, force: true });
  });
  const ledger = async (io = testIo()) => {
    const l = await PrizeLedger.open({ dataDir: dir, host, io });
    open.push(l);
    return { l, io };
  };
  const fileLines = async () => linesOf(await readFile(join(dir, LEDGER_FILE), 'utf8'));

  it('records N prizes with two writes and two fsyncs (intents and holds, then outcomes), gives only once the intents are durable, and tells the players only once the outcomes are', async () => {
    host.online.add('p1');
    const { l, io } = await ledger();
    const syncs = [gate(), gate()];
    io.beforeSync = () => syncs[io.syncs - 1]!.wait();
    const g = l.group();
    for (let i = 1; i <= 50; i++) g.prize(prize(`1-${i}`, `treasure:oak:${i}`, i % 5 === 0 ? 'away' : 'p1'), 'srv-a');
    expect(host.given).toHaveLength(0); // nothing before the intents are durable
    const committing = g.commit();
    await syncs[0]!.reached;
    expect(host.given).toHaveLength(0);
    syncs[0]!.open();
    await syncs[1]!.reached;
    expect(host.given).toHaveLength(40);
    expect(host.told).toEqual([]);
    syncs[1]!.open();
    const result = await committing;
    expect(result.prizes.filter((o) => o === 'granted')).toHaveLength(40);
    expect(result.prizes.filter((o) => o === 'held')).toHaveLength(10);
    expect({ writes: io.writeCalls, syncs: io.syncs, commits: l.commits }).toEqual({ writes: 2, syncs: 2, commits: 2 });
    expect(linesOf(io.writes[0]!).map((r) => r.status)).toEqual(Array.from({ length: 50 }, (_, i) => ((i + 1) % 5 === 0 ? 'held' : 'giving')));
    expect(linesOf(io.writes[1]!).map((r) => r.status)).toEqual(Array(40).fill('granted'));
    expect(await fileLines()).toHaveLength(90);
    expect(host.told).toHaveLength(40);
    expect(l.heldNow).toBe(10);
  });

  it('one prize at a time costs two fsyncs each (the baseline group commit replaces); a held one costs one', async () => {
    host.online.add('p1');
    const { l, io } = await ledger();
    for (let i = 1; i <= 5; i++) await l.handlePrize(prize(`1-${i}`, `treasure:oak:${i}`), 'srv-a');
    expect(io.syncs).toBe(10);
    await l.handlePrize(prize('1-6', 'treasure:oak:6', 'away'), 'srv-a');
    expect(io.syncs).toBe(11);
  });

  it('a duplicate inside a group is decided once; one already durable costs no write at all', async () => {
    host.online.add('p1');
    const { l, io } = await ledger();
    const g = l.group();
    g.prize(prize('1-0', 'treasure:oak:1'), 'srv-a');
    g.prize(prize('1-0', 'treasure:oak:1'), 'srv-a');
    g.prize(prize('1-1', 'treasure:oak:1'), 'srv-a');
    expect((await g.commit()).prizes).toEqual(['granted', 'duplicate', 'duplicate']);
    expect((await fileLines()).map((r) => `${r.reason} ${r.id} ${r.status}`)).toEqual(['treasure:oak:1 1-0 giving', 'treasure:oak:1 1-0 granted']);
    expect(host.given).toHaveLength(1);

    const again = l.group();
    again.prize(prize('2-0', 'treasure:oak:1'), 'srv-a');
    expect((await again.commit()).prizes).toEqual(['duplicate']);
    expect({ writes: io.writeCalls, syncs: io.syncs }).toEqual({ writes: 2, syncs: 2 });
  });

  it('a prize held and granted in the same group (the player joined before the fsync) is written in that order, and a restart sees it granted', async () => {
    const { l } = await ledger();
    const g = l.group();
    g.prize(prize('1-0', 'treasure:oak:1', 'away'), 'srv-a');
    expect(l.hasHeld('away')).toBe(true);
    host.online.add('away');
    g.grantHeld('away');
    expect(await g.commit()).toEqual({ prizes: ['held'], joins: [1], resolutions: [] });
    expect((await fileLines()).map((r) => r.status)).toEqual(['held', 'giving', 'granted']);
    await l.close();
    const { l: after } = await ledger();
    expect(after.get('spring|treasure:oak:1')?.status).toBe('granted');
    expect(await after.handlePrize(prize('2-0', 'treasure:oak:1', 'away'), 'srv-a')).toBe('duplicate');
    expect(host.given).toHaveLength(1);
  });

  it('when the first append (the intents) fails, nothing is given and the group is forgotten: the redelivery decides it afresh', async () => {
    host.online.add('p1');
    const { l, io } = await ledger();
    io.beforeWrite = () => Promise.reject(new Error('ENOSPC: no space left on device'));
    const g = l.group();
    g.prize(prize('1-0', 'treasure:oak:1'), 'srv-a');
    g.prize(prize('1-1', 'treasure:oak:2', 'away'), 'srv-a');
    await expect(g.commit()).rejects.toThrow(/ENOSPC/);
    expect(host.given).toEqual([]);
    expect(l.records()).toEqual([]);
    expect(l.unsyncedRecords).toBe(0);

    io.beforeWrite = undefined;
    expect(await l.handlePrize(prize('2-0', 'treasure:oak:1'), 'srv-a')).toBe('granted');
    expect((await fileLines()).map((r) => `${r.reason} ${r.status}`)).toEqual(['treasure:oak:1 giving', 'treasure:oak:1 granted']);
    expect(host.given).toHaveLength(1);
  });

  it('when the second append (the outcomes) fails, nothing is given twice: the outcomes are written again before the next commit', async () => {
    host.online.add('p1');
    const { l, io } = await ledger();
    io.beforeWrite = (data) => (data.includes('"granted"') ? Promise.reject(new Error('ENOSPC: no space left on device')) : Promise.resolve());
    await expect(l.handlePrize(prize('1-0', 'treasure:oak:1'), 'srv-a')).rejects.toThrow(/ENOSPC/);
    expect(host.given).toHaveLength(1);
    expect(l.unsyncedRecords).toBe(1);
    expect(l.get('spring|treasure:oak:1')?.status).toBe('granted'); // never given again by this process

    io.beforeWrite = undefined;
    expect(await l.handlePrize(prize('2-0', 'treasure:oak:1'), 'srv-a')).toBe('duplicate'); // redelivered
    expect(l.unsyncedRecords).toBe(0);
    expect((await fileLines()).map((r) => `${r.reason} ${r.status}`)).toEqual(['treasure:oak:1 giving', 'treasure:oak:1 granted']);
    expect(host.given).toHaveLength(1);
  });

  it('groups must not overlap', async () => {
    const { l } = await ledger();
    const g = l.group();
    expect(() => l.group()).toThrow(/must not overlap/);
    await g.commit();
    expect(() => l.group()).not.toThrow();
  });
});

describe('plugin: group commit', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  /** Counts prize messages that reached the plugin's link (the plugin queues each in its own listener, registered first). */
  const arrivals = (p: CairnPlugin) => {
    const link = (p as unknown as { p: { link: EventEmitter } }).p.link;
    const seen = { n: 0 };
    link.on('prize', () => seen.n++);
    link.on('window-closed', () => seen.n++);
    return seen;
  };

  it('a Prizes frame is decided like its messages one by one, in one group: two fsyncs, one PrizeAck, the window reported after its prizes', async () => {
    h.host.online.add('p1');
    const io = testIo();
    const p = await h.start({ ledgerIo: io });
    const reported: string[] = [];
    p.on('prize', (x: { reason: string; outcome: string }) => reported.push(`${x.reason} ${x.outcome}`));
    p.on('window-closed', (w: { end: number }) => reported.push(`closed ${w.end}`));
    h.gw.send({ op: Op.Prizes, items: [prize('1-0', 'treasure:oak:1'), prize('1-1', 'treasure:oak:2', 'away'), prize('1-2', 'treasure:oak:1'), closed('1-3', 60_000)] });
    await until(() => h.gw.prizeAcks.length === 4, 'the acks');
    expect(h.gw.prizeAckMessages).toEqual([['1-0', '1-1', '1-2', '1-3']]);
    expect(reported).toEqual(['treasure:oak:1 granted', 'treasure:oak:2 held', 'treasure:oak:1 duplicate', 'closed 60000']);
    expect({ writes: io.writeCalls, syncs: io.syncs }).toEqual({ writes: 2, syncs: 2 });
    expect(h.host.given).toHaveLength(1);
    expect(p.closedThrough('spring')).toBe(60_000);
  });

  it('records what arrives during a fsync as one group: one more fsync, one PrizeAck with every id, acked only after it', async () => {
    h.host.online.add('p1');
    const io = testIo();
    const first = gate();
    const second = gate();
    // group 1: intents (sync 1), outcomes (sync 2); group 2: intents and holds (sync 3), outcomes (sync 4)
    io.beforeSync = () => (io.syncs === 1 ? first.wait() : io.syncs === 3 ? second.wait() : Promise.resolve());
    const p = await h.start({ ledgerIo: io });
    const seen = arrivals(p);
    const reported: Array<{ event: string; prizes: number; through: number | undefined }> = [];
    p.on('prize', (x: { reason: string }) => reported.push({ event: `prize ${x.reason}`, prizes: p.prizes().length, through: p.closedThrough('spring') }));
    p.on('window-closed', () => reported.push({ event: 'window-closed', prizes: p.prizes().length, through: p.closedThrough('spring') }));

    h.gw.send(prize('1-0', 'treasure:oak:1'));
    await first.reached; // group 1 = [1-0], in the fsync of its intent
    h.gw.send(prize('1-1', 'treasure:oak:2'));
    h.gw.send(prize('1-2', 'treasure:oak:2')); // a duplicate inside the group
    h.gw.send(prize('1-3', 'treasure:oak:3', 'away'));
    h.gw.send(closed('1-4', 60_000));
    await until(() => seen.n === 5, 'every message at the link');
    first.open();
    await second.reached; // group 2 = the other four, in the fsync of its intents and holds
    await roundTrip(h, p);
    expect(h.gw.prizeAckMessages).toEqual([['1-0']]);
    expect(p.closedThrough('spring')).toBeUndefined();
    expect(reported.map((r) => r.event)).toEqual(['prize treasure:oak:1']);

    second.open();
    await until(() => h.gw.prizeAcks.length === 5, 'every ack');
    expect(h.gw.prizeAckMessages).toEqual([['1-0'], ['1-1', '1-2', '1-3', '1-4']]);
    expect({ writes: io.writeCalls, syncs: io.syncs }).toEqual({ writes: 4, syncs: 4 });
    expect(linesOf(io.writes[2]!).map((r) => `${r.id} ${r.status}`)).toEqual(['1-1 giving', '1-3 held']);
    expect(linesOf(io.writes[3]!).map((r) => `${r.id} ${r.status}`)).toEqual(['1-1 granted']);
    expect(h.host.given).toHaveLength(2);
    // reported in arrival order, the window after every prize before it is in the ledger
    expect(reported).toEqual([
      { event: 'prize treasure:oak:1', prizes: 1, through: undefined },
      { event: 'prize treasure:oak:2', prizes: 3, through: undefined },
      { event: 'prize treasure:oak:2', prizes: 3, through: undefined },
      { event: 'prize treasure:oak:3', prizes: 3, through: undefined },
      { event: 'window-closed', prizes: 3, through: 60_000 },
    ]);
  });

  it('a crash in the middle of an append (it never completes) acks and reports nothing; the restarted plugin records each prize once', async () => {
    const io = testIo();
    const stalled = gate();
    io.beforeWrite = () => stalled.wait();
    const a = await h.start({ ledgerIo: io });
    let windowsSeen = 0;
    a.on('window-closed', () => windowsSeen++);
    const msgs = [prize('1-0', 'treasure:oak:1', 'away'), prize('1-1', 'treasure:oak:2', 'gone'), closed('1-2', 60_000)];
    for (const m of msgs) h.gw.send(m);
    await stalled.reached;
    await roundTrip(h, a);
    expect(h.gw.prizeAcks).toEqual([]);
    expect(a.closedThrough('spring')).toBeUndefined();
    expect(windowsSeen).toBe(0);
    expect(await readFile(join(h.dir, LEDGER_FILE), 'utf8')).toBe('');

    // The process is gone as far as the ledger file knows; a new one starts on the same folder.
    const b = await h.start();
    for (const m of msgs) h.gw.send(m); // the gateway delivers everything unacked again
    await until(() => h.gw.prizeAcks.length === 3, 'acks from the restarted plugin');
    expect(h.gw.prizeAckMessages.flat()).toEqual(['1-0', '1-1', '1-2']);
    expect(b.prizes().map((x) => `${x.player} ${x.status}`)).toEqual(['away pending', 'gone pending']);
    expect(b.closedThrough('spring')).toBe(60_000);
    expect(linesOf(await readFile(join(h.dir, LEDGER_FILE), 'utf8')).map((r) => `${r.id} ${r.status}`)).toEqual(['1-0 held', '1-1 held']);

    // Let the first instance's append fail (so that it can stop): it still acks nothing.
    stalled.fail(new Error('EIO: the process died here'));
    await roundTrip(h, a);
    expect(h.gw.prizeAcks).toHaveLength(3);
    expect(windowsSeen).toBe(0);
  });

  it('a failed append acks nothing, gives nothing and reports no window; the redelivery decides it again, then acks and reports', async () => {
    h.host.online.add('p1');
    const io = testIo();
    let fail = true;
    io.beforeWrite = () => (fail ? Promise.reject(new Error('EIO: i/o error')) : Promise.resolve());
    const p = await h.start({ ledgerIo: io });
    const seen = arrivals(p);
    h.gw.send(prize('1-0', 'treasure:oak:1'));
    h.gw.send(closed('1-1', 60_000));
    // In one group or two, as the socket reads them: either way every append fails.
    await until(() => seen.n === 2, 'both messages at the link');
    await roundTrip(h, p);
    expect(h.gw.prizeAcks).toEqual([]);
    expect(p.closedThrough('spring')).toBeUndefined();
    expect(h.host.given).toHaveLength(0); // the intent never became durable, so nothing was given

    fail = false;
    h.gw.send(prize('2-0', 'treasure:oak:1'));
    h.gw.send(closed('2-1', 60_000));
    await until(() => h.gw.prizeAcks.length === 2, 'acks of the redelivery');
    expect(h.gw.prizeAcks).toEqual(['2-0', '2-1']);
    expect(p.closedThrough('spring')).toBe(60_000);
    expect(h.host.given).toHaveLength(1);
    expect(linesOf(await readFile(join(h.dir, LEDGER_FILE), 'utf8')).map((r) => `${r.id} ${r.status}`)).toEqual(['2-0 giving', '2-0 granted']);
  });

  it('a player who joins during the fsync of the group holding their prize gets it granted', async () => {
    const io = testIo();
    const sync = gate();
    io.beforeSync = () => sync.wait();
    const p = await h.start({ ledgerIo: io });
    h.gw.send(prize('1-0', 'treasure:oak:1', 'away'));
    await sync.reached;
    h.host.online.add('away');
    p.accept({ type: 'join', t: h.host.clock + 1, player: 'away' });
    sync.open();
    await until(() => p.prizes()[0]?.status === 'granted' && io.syncs === 3, 'the grant on join, durable');
    expect(h.host.given).toEqual([{ player: 'away', item: 'gold_ingot', count: 5 }]);
    expect(h.gw.prizeAcks).toEqual(['1-0']);
  });
});
