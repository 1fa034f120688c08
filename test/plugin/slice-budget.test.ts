/**
 * A slice of the timer's flush ends once its time budget is spent, not only at its event
 * count, so a slow machine cannot make one slice hold the game's tick for long. The slices
 * are timed with an injected clock that moves a fixed step each time it is read, so what a
 * slice takes follows from the clock, not from how fast this machine is.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WireEvent } from '../../protocol/index.js';
import { Coalescer } from '../../plugin/coalescer.js';
import type { Link } from '../../plugin/link.js';
import { Outbox } from '../../plugin/outbox.js';
import { Shipper } from '../../plugin/shipper.js';
import { Spill } from '../../plugin/spill/spill-file.js';

const T0 = 1_795_867_200_000;
let dir: string;
let spill: Spill;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-slice-'));
  spill = Spill.open(dir);
  vi.useFakeTimers({ toFake: ['setImmediate', 'clearImmediate'] });
});
afterEach(async () => {
  vi.useRealTimers();
  spill.close();
  await rm(dir, { recursive: true, force: true });
});

/** A clock that moves `step` ms each time it is read. */
function steppingClock(step: number): { now: () => number; reads: number } {
  const c = { t: 0, reads: 0, now: () => (c.reads++, (c.t += step)) };
  return c;
}

/** `players` who each moved, then one split flush: the events of each slice's batch, and the pauses reported. */
function sliced(players: number, perfNow: () => number, sliceMs: number): { slices: WireEvent[][]; wms: number[]; pauses: number[] } {
  const coalescer = new Coalescer();
  const outbox = new Outbox({ batchMaxEvents: 2000 });
  const link = { pump: () => undefined } as unknown as Link;
  const pauses: number[] = [];
  const shipper = new Shipper({ coalescer, outbox, link, spill, clock: () => T0 + 100, heartbeatMs: 1000, sliceEvents: 128, sliceMs, perfNow, onPause: (ms) => pauses.push(ms), onFlushed: () => undefined });
  for (let k = 0; k < players; k++) {
    coalescer.join(`p${k}`, T0);
    coalescer.move(`p${k}`, T0 + 1, 'r1', k, 64, 0);
  }
  shipper.flushSliced();
  for (let turns = 0; shipper.flushing; turns++) {
    expect(turns).toBeLessThan(100);
    vi.advanceTimersToNextTimer();
  }
  const slices: WireEvent[][] = [];
  const wms: number[] = [];
  for (let b = outbox.next(Infinity); b; b = outbox.next(Infinity)) {
    slices.push(b.events ?? []);
    wms.push(b.wm);
    outbox.markSent(b);
  }
  return { slices, wms, pauses };
}

describe('flush slice time budget', () => {
  it('with time to spare, a slice takes its full count', () => {
    const { slices, wms } = sliced(300, steppingClock(0).now, 0.5);
    expect(slices.map((s) => s.length)).toEqual([128, 128, 44]);
    expect(wms).toEqual([0, 0, T0 + 99]);
  });

  it('a slice stops taking events once 0.5 ms is spent, in steps of 16 events', () => {
    // The clock is read at the slice's start and after each 16 events: 0.1 ms a read puts
    // the fifth look at 0.5 ms, so a slice takes 5 x 16 events.
    const { slices, wms, pauses } = sliced(300, steppingClock(0.1).now, 0.5);
    expect(slices.map((s) => s.length)).toEqual([80, 80, 80, 60]);
    // Only the last slice claims the flush's watermark; every delta went out exactly once.
    expect(wms).toEqual([0, 0, 0, T0 + 99]);
    const players = slices.flat().map((e) => (e.k === 'delta' ? e.i : -1));
    expect(new Set(players).size).toBe(300);
    // The pause reported is the injected clock's, end minus start.
    expect(pauses.slice(0, 3)).toEqual(pauses.slice(0, 3).map(() => expect.closeTo(0.6, 9)));
  });

  it('a slice that overruns at once still makes progress: one step of 16 events', () => {
    const { slices } = sliced(40, steppingClock(2).now, 0.5);
    expect(slices.map((s) => s.length)).toEqual([16, 16, 8]);
  });

  it('without a budget (flushSliceMs unset) only the count bounds a slice', () => {
    const { slices } = sliced(300, steppingClock(5).now, Infinity);
    expect(slices.map((s) => s.length)).toEqual([128, 128, 44]);
  });
});
