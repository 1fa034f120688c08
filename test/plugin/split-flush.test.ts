/**
 * The timer's flush runs in slices on successive event-loop turns (a flush must not
 * hold the game's tick). Fake timers drive the turns (setImmediate), so each slice is seen.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Batch, DeltaEvent, DiscreteEvent, WireEvent } from '../../protocol/index.js';
import { Coalescer } from '../../plugin/coalescer.js';
import type { CairnPlugin } from '../../plugin/cairn-plugin.js';
import { until } from './support/fake-gateway.js';
import { harness, type Harness } from './support/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  vi.useRealTimers();
  await h.cleanup();
});

const discrete = (evs: WireEvent[]) => evs.filter((e): e is DiscreteEvent => e.k !== 'delta');
const deltas = (evs: WireEvent[]) => evs.filter((e): e is DeltaEvent => e.k === 'delta');

/** Every discrete event with t <= a batch's wm is in that batch or an earlier one. */
function checkWatermarks(batches: Array<Pick<Batch, 'seq' | 'wm'> & { ev: WireEvent[] }>): void {
  const seen = new Set<string>();
  const all = batches.flatMap((b) => discrete(b.ev));
  for (const b of batches) {
    for (const e of discrete(b.ev)) seen.add(`${e.e}/${e.n}`);
    for (const e of all) if (e.t <= b.wm) expect(seen.has(`${e.e}/${e.n}`), `event n=${e.n} t=${e.t} claimed by batch ${b.seq} (wm ${b.wm}) before it was sent`).toBe(true);
  }
}

async function started(players: number, slice: number): Promise<CairnPlugin> {
  const p = await h.start({ flushSliceEvents: slice, batchMaxEvents: 500 });
  for (let k = 0; k < players; k++) p.accept({ type: 'join', t: h.host.clock, player: `p${k}` });
  h.host.clock += 10;
  p.flush();
  await p.drain();
  return p;
}

describe('split flush', () => {
  it('runs one slice per turn, each its own batch; only the last claims the new watermark', async () => {
    const p = await started(100, 16);
    const before = h.gw.unique().length;
    const wm0 = h.gw.unique().at(-1)!.wm;
    vi.useFakeTimers({ toFake: ['setImmediate', 'clearImmediate'] });
    for (let k = 0; k < 100; k++) p.accept({ type: 'move', t: h.host.clock + 1, player: `p${k}`, region: 'r1', at: [200 + k, 64, 200] });
    h.host.clock += 50;
    p.flushSliced();
    let turns = 0;
    while (p.flushing) {
      expect(turns).toBeLessThan(20);
      vi.advanceTimersToNextTimer();
      turns++;
    }
    // 100 deltas in slices of 16: 7 slices, the first ran in the timer's own turn
    expect(turns).toBe(6);
    vi.useRealTimers();
    await p.drain();
    const formed = h.gw.unique().slice(before);
    expect(formed.map((b) => b.ev.length)).toEqual([16, 16, 16, 16, 16, 16, 4]);
    expect(formed.map((b) => b.wm)).toEqual([wm0, wm0, wm0, wm0, wm0, wm0, h.host.clock - 1]);
    expect(new Set(deltas(formed.flatMap((b) => b.ev)).map((d) => d.i)).size).toBe(100);
  });

  it('an event queued during a split flush rides in a later slice, before the batch that claims its time', async () => {
    const p = await started(64, 8);
    vi.useFakeTimers({ toFake: ['setImmediate', 'clearImmediate'] });
    for (let k = 0; k < 64; k++) p.accept({ type: 'move', t: h.host.clock + 1, player: `p${k}`, region: 'r1', at: [300, 64, 300 + k] });
    h.host.clock += 50;
    const wm = h.host.clock;
    p.flushSliced();
    // mid-flush: a player leaves and another walks into the oak treasure, both stamped before wm
    p.accept({ type: 'leave', t: wm - 5, player: 'p3' });
    p.accept({ type: 'move', t: wm - 4, player: 'p60', region: 'r1', at: [10, 64, -20] });
    vi.advanceTimersToNextTimer();
    p.accept({ type: 'move', t: wm - 3, player: 'p61', region: 'r1', at: [10, 64, -20] });
    while (p.flushing) vi.advanceTimersToNextTimer();
    vi.useRealTimers();
    await p.drain();
    const batches = h.gw.unique();
    checkWatermarks(batches);
    const evs = batches.flatMap((b) => b.ev);
    expect(discrete(evs).filter((e) => e.k === 'enter').map((e) => e.p)).toEqual(['p60', 'p61']);
    expect(discrete(evs).filter((e) => e.k === 'leave').map((e) => e.p)).toEqual(['p3']);
    const last = batches.at(-1)!;
    expect(last.wm).toBe(wm - 1);
    expect(p.stats().lateSamples).toBe(0);
    // p60 moved again before its turn: one delta with its latest state; p3 left: none after its leave
    const i60 = discrete(evs).find((e) => e.k === 'join' && e.p === 'p60') as { i: number };
    const d60 = deltas(evs).filter((d) => d.i === i60.i);
    expect(d60.at(-1)).toMatchObject({ x: 10, z: -20 });
  });

  it('a move after a player was emitted waits for the next flush; nothing is emitted twice or lost', async () => {
    const p = await started(40, 10);
    vi.useFakeTimers({ toFake: ['setImmediate', 'clearImmediate'] });
    for (let k = 0; k < 40; k++) p.accept({ type: 'move', t: h.host.clock + 1, player: `p${k}`, region: 'r1', at: [500, 64, 500 + k] });
    h.host.clock += 50;
    p.flushSliced(); // first slice: p0..p9
    p.accept({ type: 'move', t: h.host.clock + 1, player: 'p0', region: 'r1', at: [501, 64, 500] });
    p.accept({ type: 'move', t: h.host.clock + 1, player: 'p39', region: 'r1', at: [501, 64, 539] });
    // a second timer tick while the first flush runs: it follows once the first completes
    p.flushSliced();
    while (p.flushing) vi.advanceTimersToNextTimer();
    h.host.clock += 50;
    vi.advanceTimersToNextTimer(); // the follow-up flush
    while (p.flushing) vi.advanceTimersToNextTimer();
    vi.useRealTimers();
    await until(() => p.stats().outboxBatches === 0, 'acks');
    const evs = h.gw.events();
    const joins = new Map(discrete(evs).flatMap((e) => (e.k === 'join' ? [[e.p, e.i] as const] : [])));
    const of = (pl: string) => deltas(evs).filter((d) => d.i === joins.get(pl));
    // the first move of every player once, then p0's second move in the follow-up flush
    expect(of('p0').map((d) => d.x)).toEqual([500, 501]);
    // p39 had not had its turn yet: its first delta already carries the latest state
    expect(of('p39').map((d) => d.x)).toEqual([501]);
    expect(of('p20').map((d) => d.x)).toEqual([500]);
    checkWatermarks(h.gw.unique());
  });

  it('ends after the work that was there when it began, however busy the game stays meanwhile', async () => {
    const p = await started(40, 10);
    vi.useFakeTimers({ toFake: ['setImmediate', 'clearImmediate'] });
    for (let k = 0; k < 40; k++) p.accept({ type: 'move', t: h.host.clock + 1, player: `p${k}`, region: 'r1', at: [900, 64, 900 + k] });
    h.host.clock += 50;
    const wm = h.host.clock;
    p.flushSliced();
    let turns = 0;
    let n = 0;
    while (p.flushing) {
      // every turn, everyone moves again and a newcomer joins
      for (let k = 0; k < 40; k++) p.accept({ type: 'move', t: wm + 1 + turns, player: `p${k}`, region: 'r1', at: [901 + turns, 64, 900 + k] });
      p.accept({ type: 'join', t: wm + 1 + turns, player: `new${n++}` });
      vi.advanceTimersToNextTimer();
      turns++;
      expect(turns).toBeLessThanOrEqual(4);
    }
    vi.useRealTimers();
    await p.drain();
    const batches = h.gw.unique();
    checkWatermarks(batches);
    const last = batches.at(-1)!;
    expect(last.wm).toBe(wm - 1);
    // the newcomers who joined while it ran are in it (the last batch included)
    const newcomers = discrete(batches.flatMap((b) => b.ev)).filter((e) => e.k === 'join' && e.p.startsWith('new'));
    expect(newcomers).toHaveLength(n);
    expect(discrete(last.ev).some((e) => e.k === 'join')).toBe(true);
  });

  it('flush() completes a split flush under way, then flushes everything else at once', async () => {
    const p = await started(30, 5);
    vi.useFakeTimers({ toFake: ['setImmediate', 'clearImmediate'] });
    for (let k = 0; k < 30; k++) p.accept({ type: 'move', t: h.host.clock + 1, player: `p${k}`, region: 'r1', at: [700, 64, 700 + k] });
    h.host.clock += 50;
    const wm1 = h.host.clock;
    p.flushSliced();
    p.accept({ type: 'join', t: wm1 + 1, player: 'late-joiner' });
    h.host.clock += 50;
    p.flush({ force: true });
    expect(p.flushing).toBe(false);
    vi.useRealTimers();
    await p.drain();
    const batches = h.gw.unique();
    checkWatermarks(batches);
    // the split flush ended with its own watermark (the join queued during it included), then the forced one
    expect(batches.map((b) => b.wm).filter((w) => w > wm1 - 50)).toEqual([wm1 - 1, h.host.clock]);
    expect(discrete(batches.at(-2)!.ev).map((e) => e.k)).toContain('join');
    expect(deltas(batches.flatMap((b) => b.ev))).toHaveLength(30);
  });
});

describe('Coalescer: taking a flush in parts', () => {
  it('flushSome emits the taken players a few at a time; abortFlush hands the rest back', () => {
    const c = new Coalescer();
    for (let k = 0; k < 5; k++) {
      c.join(`p${k}`, 0);
      c.move(`p${k}`, 1, 'r1', k, 0, 0);
    }
    c.beginFlush();
    expect(c.flushRemaining).toBe(5);
    const out: DeltaEvent[] = [];
    expect(c.flushSome(2, out)).toBe(2);
    c.move('p3', 2, 'r1', 33, 0, 0); // not emitted yet: its turn carries this
    c.move('p0', 2, 'r1', 10, 0, 0); // already emitted: next flush
    expect(c.dirtyCount).toBe(4);
    c.abortFlush();
    expect(c.flushRemaining).toBe(0);
    const rest = c.flush();
    expect(out.map((d) => d.x)).toEqual([0, 1]);
    expect(rest.map((d) => [d.i, d.x]).sort()).toEqual([
      [1, 10],
      [3, 2],
      [4, 33],
      [5, 4],
    ]);
    expect(c.flush()).toEqual([]);
  });
});
