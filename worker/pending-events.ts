/**
 * How a hunt event is stored while it waits for its window (a member of the hunt's
 * pending ZSET, scored by event time). The same event, from a duplicate or re-aggregated
 * record, must always give the same member, so ZADD makes it a no-op:
 *
 *   enter          a JSON array in fixed order: [1, server, e, n, t, p, hunt, tr, region, at, sus]
 *                  (entries are nearly all of a hunt's events; an array is about half the
 *                  bytes of the object and parses faster: measured on a window of 230 k entries)
 *   chunk          [2, enter, enter, ...]: the entries of one record that fall in one window
 *                  of the hunt, by time, scored by the first one's time. One member instead
 *                  of hundreds: reading a window of 230 k entries member by member cost
 *                  Redis 0.3 s (ZRANGEBYSCORE) and the worker as much again to parse.
 *                  Made only when the hunt's window length is known at ingest.
 *   start, stop,   canonical JSON of the event (keys sorted at every level)
 *   rules
 *
 * A chunk is identified by its record: the same record ingested twice is refused whole
 * before its chunks are added (lua/part-seen-3.lua). The same entry in two records (a
 * plugin's spill replayed) lands in two members; the fold ignores a player's second find
 * of a treasure, and the closer drops repeated suspect entries by id, so that changes
 * nothing.
 *
 * Members written by earlier versions (canonical JSON for every kind) still decode. During
 * a rolling upgrade one entry could be pending in both forms; the fold ignores a player's
 * second find of a treasure, so that changes no prize.
 */
import type { EnterEvent, HuntEvent } from '../protocol/index.js';

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = canonical(x);
    }
    return out;
  }
  return v;
}

/** Marks the compact form of an entry (the first element of the array). */
const ENTER_V1 = 1;

export function encodePendingEvent(ev: HuntEvent): string {
  if (ev.k === 'enter') {
    return JSON.stringify([ENTER_V1, ev.server, ev.e, ev.n, ev.t, ev.p, ev.hunt, ev.tr, ev.region, ev.at, ev.sus === 1 ? 1 : 0]);
  }
  return JSON.stringify(canonical(ev));
}

/** What the ingest script adds to a hunt's pending set for one record: one member, the ids of the events in it. */
export interface PendingEntry {
  score: number;
  /** time of the last event in it (= score for a single event) */
  last: number;
  member: string;
  /** event ids, comma-separated (ids never contain a comma: ID_PATTERN) */
  ids: string;
  n: number;
}

const CHUNK_V1 = 2;

const compactEnter = (ev: EnterEvent & { server: string }) => [ENTER_V1, ev.server, ev.e, ev.n, ev.t, ev.p, ev.hunt, ev.tr, ev.region, ev.at, ev.sus === 1 ? 1 : 0];

/**
 * The pending members of one record's events of one hunt: entries grouped into one chunk
 * per window when `windowMs` is known, everything else one member per event.
 */
export function pendingEntries(events: readonly HuntEvent[], windowMs: number | undefined): PendingEntry[] {
  const out: PendingEntry[] = [];
  const byWindow = new Map<number, (EnterEvent & { server: string })[]>();
  for (const ev of events) {
    if (ev.k === 'enter' && windowMs !== undefined) {
      const w = Math.floor(ev.t / windowMs);
      let list = byWindow.get(w);
      if (!list) byWindow.set(w, (list = []));
      list.push(ev);
    } else {
      out.push({ score: ev.t, last: ev.t, member: encodePendingEvent(ev), ids: eventId(ev), n: 1 });
    }
  }
  for (const list of byWindow.values()) {
    if (list.length === 1) {
      const ev = list[0]!;
      out.push({ score: ev.t, last: ev.t, member: encodePendingEvent(ev), ids: eventId(ev), n: 1 });
      continue;
    }
    list.sort((a, b) => a.t - b.t || a.n - b.n);
    const arr: unknown[] = [CHUNK_V1];
    for (const ev of list) arr.push(compactEnter(ev));
    out.push({ score: list[0]!.t, last: list[list.length - 1]!.t, member: JSON.stringify(arr), ids: list.map(eventId).join(','), n: list.length });
  }
  return out;
}

type CompactEnter = [number, string, number, number, number, string, string, string, string, [number, number, number], number];

function fromCompact(raw: unknown): HuntEvent {
  const a = raw as CompactEnter;
  if (!Array.isArray(a) || a[0] !== ENTER_V1 || a.length !== 11 || typeof a[1] !== 'string' || typeof a[4] !== 'number' || typeof a[6] !== 'string') {
    throw new Error('pending member is not a hunt event');
  }
  const ev: EnterEvent & { server: string } = { k: 'enter', e: a[2], n: a[3], t: a[4], p: a[5], hunt: a[6], tr: a[7], region: a[8], at: a[9], server: a[1] };
  if (a[10] === 1) ev.sus = 1;
  return ev;
}

/** The events of one pending member (a chunk holds many); throws when it is not one this module wrote. */
export function decodePendingMember(member: string): HuntEvent[] {
  const raw = JSON.parse(member) as unknown;
  if (Array.isArray(raw) && raw[0] === CHUNK_V1) {
    const out: HuntEvent[] = [];
    for (let i = 1; i < raw.length; i++) out.push(fromCompact(raw[i]));
    return out;
  }
  return [fromParsed(raw)];
}

function fromParsed(raw: unknown): HuntEvent {
  if (Array.isArray(raw)) return fromCompact(raw);
  const ev = raw as HuntEvent;
  if (!ev || typeof ev !== 'object' || typeof ev.t !== 'number' || typeof ev.server !== 'string' || typeof ev.hunt !== 'string') {
    throw new Error('pending member is not a hunt event');
  }
  return ev;
}

/** The identity of a discrete event: (server, epoch, counter). Used in the late set and logs. */
export function eventId(ev: Pick<HuntEvent, 'server' | 'e' | 'n'>): string {
  return `${ev.server}/${ev.e}/${ev.n}`;
}
