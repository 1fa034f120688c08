/**
 * Reading one window's pending events for its close: every member of the hunt's pending
 * set below the window's end, into the fold's columns (pending-events.ts). In pages by
 * score, all asked for at once, so each page is parsed while Redis sends the next (a
 * window of 230 k entries: about 5 MB; read in one reply, Redis's part and the worker's
 * did not overlap at all). The frontier is read again once the last page is in: a
 * caller's check that the events were all there (window-closer.ts freshLimit).
 */
import type { Redis } from 'ioredis';
import { PendingWindowReader, type PendingWindow } from './pending-events.js';

/** Pages a window's pending events are read in. */
const READ_PAGES = 4;

export interface WindowRead extends PendingWindow {
  /** members read (all of those below the window's end) */
  read: number;
  /** what `afterRead` returned */
  fresh: number;
}

/**
 * Reads the members of `pending` below `start + L`; `afterRead` is called once the last
 * page has arrived (its result is returned as `fresh`), `onBad` for each member that is
 * not one pending-events.ts wrote.
 */
export async function readWindow(redis: Redis, pending: string, start: number, L: number, onBad: (member: string, err: unknown) => void, afterRead: () => Promise<number>): Promise<WindowRead> {
  const reader = new PendingWindowReader(start, onBad);
  const pages = pageBounds(start, L).map(([from, to]) => redis.zrangebyscore(pending, from, `(${to}`));
  for (const p of pages) p.catch(() => {}); // awaited below, in order
  let read = 0;
  let fresh: Promise<number> | undefined;
  for (const [i, page] of pages.entries()) {
    const members = await page;
    if (i === pages.length - 1) fresh = afterRead();
    read += members.length;
    reader.add(members);
  }
  return { events: reader.events, late: reader.late, read, fresh: await fresh! };
}

/** Score ranges that split everything below the window's end into READ_PAGES pages (the first takes what lies before the start: late events). */
function pageBounds(start: number, L: number): [string, number][] {
  const out: [string, number][] = [];
  let from = '-inf';
  for (let i = 1; i <= READ_PAGES; i++) {
    const to = i === READ_PAGES ? start + L : start + Math.floor((i * L) / READ_PAGES);
    out.push([from, to]);
    from = String(to);
  }
  return out;
}
