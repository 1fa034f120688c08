/**
 * The spill file: when even discrete events exceed the outbox bound they go to an
 * append-only file in the data folder and are sent from there; what is left at stop is sent
 * again by the next start with the events' original ids.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Batch, DiscreteEvent, WireEvent } from '../../protocol/index.js';
import type { CairnPlugin } from '../../plugin/cairn-plugin.js';
import { Spill, SPILL_FILE } from '../../plugin/spill/spill-file.js';
import { until } from './support/fake-gateway.js';
import { harness, type Harness } from './support/harness.js';

const discrete = (evs: WireEvent[]) => evs.filter((e): e is DiscreteEvent => e.k !== 'delta');
const join_ = (n: number, t = 1000 + n): DiscreteEvent => ({ k: 'join', e: 7, n, t, p: `p${n}`, i: n });

/** Every discrete event with t <= a batch's wm is in that batch or an earlier one. */
function checkWatermarks(batches: Array<Pick<Batch, 'seq' | 'wm'> & { ev: WireEvent[] }>): void {
  const seen = new Set<string>();
  const all = batches.flatMap((b) => discrete(b.ev));
  for (const b of batches) {
    for (const e of discrete(b.ev)) seen.add(`${e.e}/${e.n}`);
    for (const e of all) if (e.t <= b.wm) expect(seen.has(`${e.e}/${e.n}`), `event ${e.e}/${e.n} (t=${e.t}) claimed by batch ${b.seq} (wm ${b.wm}) before it was sent`).toBe(true);
  }
}

describe('Spill file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-spill-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives records back in order, in parts of at most one batch; only the last part carries the watermark', () => {
    const s = Spill.open(dir);
    s.append([1, 2, 3, 4, 5].map((n) => join_(n)), 500, 2);
    s.append([join_(6)], 600, 2);
    expect(s.unreadEvents).toBe(6);
    const recs = [s.next(), s.next(), s.next(), s.next()];
    expect(recs.map((r) => [r!.wm, r!.ev.map((e) => e.n)])).toEqual([
      [null, [1, 2]],
      [null, [3, 4]],
      [500, [5]],
      [600, [6]],
    ]);
    expect(s.next()).toBeUndefined();
    expect(s.hasUnread).toBe(false);
    s.close();
  });

  it('is emptied only once everything read from it is acked', () => {
    const s = Spill.open(dir);
    s.append([join_(1), join_(2)], 500, 10);
    s.next();
    s.formed(3);
    expect(s.release(2)).toBe(false);
    expect(s.bytes).toBeGreaterThan(0);
    expect(s.release(3)).toBe(true);
    expect(s.bytes).toBe(0);
    expect(readFileSync(join(dir, SPILL_FILE), 'utf8')).toBe('');
    // appends after emptying start a fresh file
    s.append([join_(3)], 700, 10);
    expect(s.next()!.ev.map((e) => e.n)).toEqual([3]);
    s.close();
  });

  it('a new instance reads what an earlier one left, cutting off a torn last line', () => {
    const a = Spill.open(dir);
    a.append([join_(1), join_(2)], 500, 10);
    a.close();
    appendFileSync(join(dir, SPILL_FILE), '{"wm":600,"ev":[{"k":"join"'); // crash mid-append
    const b = Spill.open(dir);
    expect(b.unreadEvents).toBe(2);
    expect(b.next()!.ev.map((e) => e.n)).toEqual([1, 2]);
    expect(b.next()).toBeUndefined();
    expect(readFileSync(join(dir, SPILL_FILE), 'utf8').endsWith('\n')).toBe(true);
    b.close();
  });

  it('skips a line that is not a spill record, and keeps reading', () => {
    writeFileSync(join(dir, SPILL_FILE), `${JSON.stringify({ wm: 1, ev: [join_(1)] })}\nnot json\n${JSON.stringify({ wm: 2, ev: [join_(2)] })}\n`);
    const s = Spill.open(dir);
    expect(s.unreadEvents).toBe(2);
    expect([s.next()!.ev[0]!.n, s.next()!.ev[0]!.n]).toEqual([1, 2]);
    s.close();
  });

  it('rewrite keeps exactly the given unacked events and the unread records, in that order', () => {
    const s = Spill.open(dir);
    s.append([join_(3), join_(4)], 500, 10);
    s.append([join_(5)], 600, 10);
    s.next(); // 3 and 4 went into a batch (say it is not acked)
    expect(s.rewrite([{ wm: 400, ev: [join_(1), join_(2)] }, { wm: 500, ev: [join_(3), join_(4)] }], 3)).toBe(5);
    s.close();
    const again = Spill.open(dir);
    const got: number[][] = [];
    for (let r = again.next(); r; r = again.next()) got.push(r.ev.map((e) => e.n));
    expect(got).toEqual([[1, 2], [3, 4], [5]]);
    again.close();
  });
});

describe('plugin: spilling during a long gateway outage', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const BOUND = 4 * 1024;

  /** Takes the gateway away (no welcome to reconnects) and feeds `rounds` of joins, entries and leaves. */
  async function outage(p: CairnPlugin, rounds: number, from = 0): Promise<number> {
    h.gw.autoWelcome = false;
    const hellos = h.gw.hellos.length;
    h.gw.dropAll();
    // the reconnect's hello, which welcomeNow() answers later
    await until(() => h.gw.hellos.length > hellos, 'the reconnect hello');
    let t = h.host.clock;
    let events = 0;
    for (let r = from; r < from + rounds; r++) {
      const pl = `r${r}`;
      p.accept({ type: 'join', t: ++t, player: pl });
      p.accept({ type: 'move', t: ++t, player: pl, region: 'r1', at: [10, 64, -20] }); // an entry (oak)
      p.accept({ type: 'move', t: ++t, player: pl, region: 'r1', at: [40 + r, 64, -20] });
      p.accept({ type: 'leave', t: ++t, player: pl });
      events += 3;
      h.host.clock = t;
      p.flush();
      // the outbox stays bounded: at most one flush's batch past the bound
      expect(p.stats().outboxBytes).toBeLessThanOrEqual(BOUND + 1024);
    }
    return events;
  }

  it('keeps the outbox bounded, spills the rest, and sends every discrete event exactly once, in order, when the gateway is back', async () => {
    const p = await h.start({ outboxMaxBytes: BOUND, batchMaxEvents: 20 });
    p.flush();
    await p.drain();
    const events = await outage(p, 150);
    const s = p.stats();
    expect(s.spilledEvents).toBeGreaterThan(events / 2);
    expect(s.spillPending).toBe(s.spilledEvents);
    expect(s.spillBytes).toBeGreaterThan(0);

    h.gw.welcomeNow();
    await p.drain();
    const all = discrete(h.gw.events());
    expect(all.map((e) => e.n)).toEqual(all.map((_, k) => k + 1)); // none lost, none twice, in order
    expect(all).toHaveLength(2 + events); // the rules events, then the outage's
    checkWatermarks(h.gw.unique());
    expect(p.stats()).toMatchObject({ spillPending: 0, spillBytes: 0 });
  });

  it('stop during the outage leaves the unacked events in the spill file; the next start sends them with their original ids', async () => {
    const a = await h.start({ outboxMaxBytes: BOUND, batchMaxEvents: 20 });
    a.flush();
    await a.drain();
    const events = await outage(a, 60);
    const report = await a.stop(50);
    expect(report.drained).toBe(false);
    // every event of the outage: those in unacked batches and those already in the file
    expect(report.spilledEvents).toBe(events);
    expect(report.spillFile).toBe(join(h.dir, SPILL_FILE));

    h.gw.autoWelcome = true;
    const b = await h.start({ outboxMaxBytes: BOUND, batchMaxEvents: 20 });
    expect(b.epoch).toBeGreaterThan(a.epoch);
    b.accept({ type: 'join', t: h.host.clock + 1, player: 'after-restart' });
    h.host.clock += 2;
    b.flush();
    await b.drain();
    const fromB = h.gw.batches.filter((x) => h.gw.hellos[x.conn - 1]?.epoch === b.epoch);
    const evs = discrete(fromB.flatMap((x) => x.ev));
    // the old epoch's events first, ids unchanged, then the new epoch's
    const old = evs.filter((e) => e.e === a.epoch);
    expect(old.map((e) => e.n)).toEqual(old.map((_, k) => 3 + k)); // n 1 and 2 were the rules events, acked before
    expect(old).toHaveLength(events);
    expect(evs.findIndex((e) => e.e === b.epoch)).toBe(events);
    expect(evs.filter((e) => e.e === b.epoch).map((e) => e.k)).toEqual(['rules', 'rules', 'join']);
    expect(b.stats()).toMatchObject({ spillPending: 0, spillBytes: 0 });
    const report2 = await b.stop(1000);
    expect(report2).toMatchObject({ drained: true, spilledEvents: 0 });
  });
});
