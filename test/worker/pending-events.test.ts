/**
 * worker/pending-events.ts on its own: a record's entries written as one column chunk per
 * window read back exactly (every field the fold uses); members of the forms earlier
 * versions wrote still read; late events give their ids; a suspect entry in two members
 * counts once; a bad member is skipped whole and reported.
 */
import { describe, expect, it } from 'vitest';
import type { HuntEvent, HuntRules } from '../../protocol/index.js';
import { encodePendingEvent, pendingEntries, readPendingWindow } from '../../worker/pending-events.js';
import type { WindowEvents } from '../../hunt/window-events.js';

const T0 = 1_800_000_000_000;
const RULES: HuntRules = { id: 'h', name: 'h', treasures: [{ id: 'a', region: 'r', at: [0, 0, 0], radius: 1, prizes: [] }] };
const enter = (n: number, t: number, p: string, tr = 'a', region = 'r', sus = false): HuntEvent => ({
  k: 'enter', e: 7, n, t, p, hunt: 'h', tr, region, at: [1.5, 64, -2], server: 'srv-a', ...(sus ? { sus: 1 as const } : {}),
});

/** The entries of `w` as the fold sees them, in column order. */
const entries = (w: WindowEvents) =>
  Array.from({ length: w.size }, (_, i) => ({ server: w.servers[w.srv[i]!], e: w.e[i], n: w.n[i], t: w.t[i], p: w.p[i], tr: w.treasures[w.tr[i]!]!.tr, region: w.treasures[w.tr[i]!]!.region, sus: w.sus[i] }));
const asRead = (ev: HuntEvent) => ev.k === 'enter' && { server: ev.server, e: ev.e, n: ev.n, t: ev.t, p: ev.p, tr: ev.tr, region: ev.region, sus: ev.sus === 1 ? 1 : 0 };
const noBad = () => {
  throw new Error('unexpected bad member');
};

describe('pending members', () => {
  it("a record's entries: one chunk per window, read back with every field the fold uses", () => {
    const evs = [enter(5, T0 + 30, 'x"q'), enter(3, T0 + 10, 'y', 'b', 's'), enter(4, T0 + 10, 'z', 'a', 'r', true), enter(9, T0 + 10_050, 'w'), enter(2, T0 + 10, 'v')];
    const members = pendingEntries(evs, 10_000);
    expect(members.map((m) => [m.score - T0, m.last - T0, m.n])).toEqual([[10, 30, 4], [10_050, 10_050, 1]]);
    expect(members[0]!.ids).toBe('srv-a/7/2,srv-a/7/3,srv-a/7/4,srv-a/7/5');
    const { events, late } = readPendingWindow(members.map((m) => m.member), T0, noBad);
    expect(late).toEqual([]);
    const byN = (a: { n?: number }, b: { n?: number }) => a.n! - b.n!;
    expect(entries(events).sort(byN)).toEqual(evs.map(asRead).sort(byN as never));
    // The same events give the same members (a duplicate record is a no-op).
    expect(pendingEntries([...evs].reverse(), 10_000).map((m) => m.member).sort()).toEqual(members.map((m) => m.member).sort());
  });

  it('reads the forms earlier versions wrote: entry arrays, chunks of them, canonical JSON', () => {
    const a = enter(1, T0 + 1, 'p1');
    const b = enter(2, T0 + 2, 'p2');
    const v1chunk = JSON.stringify([2, ...[a, b].map((x) => JSON.parse(encodePendingEvent(x)) as unknown)]);
    const start: HuntEvent = { k: 'start', e: 7, n: 0, t: T0, p: 'admin', hunt: 'h', rules: RULES, hash: 'x', server: 'srv-a' };
    const { events } = readPendingWindow([encodePendingEvent(start), v1chunk, encodePendingEvent(enter(3, T0 + 3, 'p3'))], T0, noBad);
    expect(entries(events).map((x) => x.p)).toEqual(['p1', 'p2', 'p3']);
    expect(events.commands).toEqual([start]);
  });

  it('gives the ids of late events instead of the events, and counts a suspect entry in two members once', () => {
    const sus = enter(4, T0 + 5, 's', 'a', 'r', true);
    const first = pendingEntries([enter(1, T0 - 5, 'early'), sus], 100_000);
    const again = pendingEntries([sus, enter(6, T0 + 6, 'q')], 100_000);
    const { events, late } = readPendingWindow([...first, ...again].map((m) => m.member), T0, noBad);
    expect(late).toEqual(['srv-a/7/1']);
    expect(entries(events).map((x) => `${x.p}:${x.sus}`)).toEqual(['s:1', 'q:0']);
  });

  it('skips a bad member whole (nothing of it folded) and reports it', () => {
    const good = pendingEntries([enter(1, T0 + 1, 'ok')], 10_000)[0]!.member;
    const chunk = JSON.parse(pendingEntries([enter(2, T0 + 2, 'kept?'), enter(3, T0 + 3, 'x')], 10_000)[0]!.member) as unknown[];
    chunk[chunk.length - 1] = 99; // the second entry's treasure code is out of the table
    const bad: string[] = [];
    const { events } = readPendingWindow([good, JSON.stringify(chunk), '{"not":"an event"}', 'not json'], T0, (m, err) => bad.push(`${m.slice(0, 10)}: ${(err as Error).message}`));
    expect(entries(events).map((x) => x.p)).toEqual(['ok']);
    expect(bad).toHaveLength(3);
    expect(bad[0]).toMatch(/entry 1 is not/);
  });
});
