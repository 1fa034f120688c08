/**
 * The order the fold takes a window's events in (hunt/window-events.ts order(), packed
 * numeric keys with ties broken by player, epoch and counter) is exactly the contract's
 * compareHuntEvents, on windows crowded with ties: a few milliseconds, servers and
 * players, commands among the entries; and the same when times are not whole
 * milliseconds (the comparator path).
 */
import { describe, expect, it } from 'vitest';
import { compareHuntEvents } from '../../hunt/hunt-fold.js';
import { WindowEvents } from '../../hunt/window-events.js';
import type { HuntEvent, HuntRules } from '../../protocol/index.js';
import { rng } from '../../plugin/hosts/sim-host.js';

const RULES: HuntRules = { id: 'h', name: 'h', treasures: [{ id: 'a', region: 'r', at: [0, 0, 0], radius: 1, prizes: [] }] };

function randomEvents(seed: number, n: number, time: (r: () => number) => number): HuntEvent[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const servers = ['srv-b', 'srv-a', 'srv-c', 'srv-a2'];
  const players = ['p1', 'p10', 'p2', 'P1', 'admin'];
  const out: HuntEvent[] = [];
  for (let i = 0; i < n; i++) {
    const base = { e: Math.floor(r() * 3), n: Math.floor(r() * 5), t: time(r), server: pick(servers), hunt: 'h' };
    const k = r();
    if (k < 0.05) out.push({ ...base, k: 'start', p: pick(players), rules: RULES, hash: 'x' });
    else if (k < 0.1) out.push({ ...base, k: 'stop', p: pick(players) });
    else if (k < 0.13) out.push({ ...base, k: 'rules', rules: RULES, hash: 'x' });
    else out.push({ ...base, k: 'enter', p: pick(players), tr: pick(['a', 'b']), region: pick(['r', 's']), at: [0, 0, 0], ...(r() < 0.1 ? { sus: 1 as const } : {}) });
  }
  return out;
}

function ordered(events: HuntEvent[]): HuntEvent[] {
  const w = new WindowEvents();
  for (const ev of events) w.add(ev);
  const entries = events.filter((e) => e.k === 'enter');
  const commands = events.filter((e) => e.k !== 'enter');
  return [...w.order()].map((i) => (i < entries.length ? entries[i]! : commands[i - entries.length]!));
}

/** The fields the contract orders by, so equal-ranked events compare equal. */
const key = (e: HuntEvent) => [e.t, e.k === 'enter' ? 1 : 0, e.server, 'p' in e ? e.p : '', e.e, e.n];

describe('the order of a window\'s events', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`equals compareHuntEvents on a window crowded with ties (seed ${seed})`, () => {
      const events = randomEvents(seed, 3000, (r) => 1_800_000_000_000 + Math.floor(r() * 20));
      expect(ordered(events).map(key)).toEqual([...events].sort(compareHuntEvents).map(key));
    });
  }

  it('equals compareHuntEvents when times are not whole milliseconds (the comparator path)', () => {
    const events = randomEvents(9, 2000, (r) => 1_800_000_000_000 + Math.floor(r() * 10) / 4);
    expect(ordered(events).map(key)).toEqual([...events].sort(compareHuntEvents).map(key));
  });

  it('puts nothing in, gets nothing out', () => {
    expect([...new WindowEvents().order()]).toEqual([]);
  });
});
