/**
 * How a hunt event is stored while it waits for its window (a member of the hunt's
 * pending ZSET, scored by event time), and how a window's members are read back into
 * the fold's columns (hunt/window-events.ts). The same event, from a duplicate or
 * re-aggregated record, must always give the same member, so ZADD makes it a no-op:
 *
 *   chunk          [3, server, epoch, t0, [treasure, region, ...], then per entry:
 *                  counter - the previous entry's (the first: the counter itself),
 *                  time - t0, player, 2 x the index of its (treasure, region) + suspect]:
 *                  the entries of one record that fall in one window of the hunt, by
 *                  (time, counter), scored by the first one's time t0. One member instead
 *                  of hundreds: reading a window of 230 k entries member by member cost
 *                  Redis 0.3 s (ZRANGEBYSCORE) and the worker as much again to parse.
 *                  What every entry of a record shares (server, epoch, hunt, the few
 *                  treasures) is written once, and times are small offsets: a third of
 *                  the bytes of the earlier chunk form, read straight into columns, with
 *                  no object per entry. The entry's position (`at`) is not kept: the fold
 *                  never reads it (the plugin decided the entry from it).
 *                  Made only when the hunt's window length is known at ingest.
 *   enter          a JSON array in fixed order: [1, server, e, n, t, p, hunt, tr, region, at, sus]
 *                  (an entry ingested before its hunt's window length was known)
 *   start, stop,   canonical JSON of the event (keys sorted at every level)
 *   rules
 *
 * A chunk is identified by its record: the same record ingested twice is refused whole
 * before its chunks are added (lua/part-seen-3.lua). The same entry in two records (a
 * plugin's spill replayed) lands in two members; the fold ignores a player's second find
 * of a treasure, and the reader drops repeated suspect entries by id, so that changes
 * nothing.
 *
 * Members written by earlier versions still decode: canonical JSON for every kind, and
 * chunks of entry arrays ([2, enter, enter, ...]). During a rolling upgrade one entry
 * could be pending in two forms; the fold ignores a player's second find of a treasure,
 * so that changes no prize.
 */
import type { EnterEvent, HuntEvent } from '../protocol/index.js';
import { WindowEvents } from '../hunt/window-events.js';

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

/** Marks a chunk of entry arrays, as versions before the column chunk wrote them. */
const CHUNK_V1 = 2;
/** Marks a chunk (the first element of the array). */
const CHUNK_V2 = 3;
/** Where a chunk's entries start, and how many elements each takes. */
const CHUNK_HEAD = 5;
const CHUNK_STRIDE = 4;

/** One record's entries of one window (one server and epoch: a record comes from one), sorted by (time, counter). */
function chunkMember(list: (EnterEvent & { server: string })[]): string {
  const first = list[0]!;
  const table: string[] = [];
  const index = new Map<string, number>();
  const out: unknown[] = [CHUNK_V2, first.server, first.e, first.t, table];
  let n = 0;
  for (const ev of list) {
    const key = JSON.stringify([ev.tr, ev.region]);
    let k = index.get(key);
    if (k === undefined) {
      k = table.length / 2;
      index.set(key, k);
      table.push(ev.tr, ev.region);
    }
    out.push(ev.n - n, ev.t - first.t, ev.p, 2 * k + (ev.sus === 1 ? 1 : 0));
    n = ev.n;
  }
  return JSON.stringify(out);
}

/**
 * The pending members of one record's events of one hunt: entries grouped into one chunk
 * per window when `windowMs` is known, everything else one member per event.
 */
export function pendingEntries(events: readonly HuntEvent[], windowMs: number | undefined): PendingEntry[] {
  const out: PendingEntry[] = [];
  // A chunk is of one server and epoch (a record comes from one: grouped by them anyway).
  const byWindow = new Map<string, (EnterEvent & { server: string })[]>();
  for (const ev of events) {
    if (ev.k === 'enter' && windowMs !== undefined) {
      const w = `${Math.floor(ev.t / windowMs)}/${ev.server}/${ev.e}`;
      let list = byWindow.get(w);
      if (!list) byWindow.set(w, (list = []));
      list.push(ev);
    } else {
      out.push({ score: ev.t, last: ev.t, member: encodePendingEvent(ev), ids: eventId(ev), n: 1 });
    }
  }
  for (const list of byWindow.values()) {
    list.sort((a, b) => a.t - b.t || a.n - b.n);
    out.push({ score: list[0]!.t, last: list[list.length - 1]!.t, member: chunkMember(list), ids: list.map(eventId).join(','), n: list.length });
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

/** The events of a member in one of the object forms (not a column chunk); throws when it is not one this module wrote. */
function fromParsedMember(raw: unknown): HuntEvent[] {
  if (Array.isArray(raw) && raw[0] === CHUNK_V1) {
    const out: HuntEvent[] = [];
    for (let i = 1; i < raw.length; i++) out.push(fromCompact(raw[i]));
    return out;
  }
  return [fromParsed(raw)];
}

/** A window's pending members, read for the fold. */
export interface PendingWindow {
  events: WindowEvents;
  /** ids of the events found with a time before the window's start: late, not folded */
  late: string[];
}

/**
 * Reads a window's pending members into the fold's columns, a page of members at a
 * time (the closer reads the window in pages, each parsed while the next is on its
 * way). Events with a time before `start` are late (their window closed while they
 * were on their way): their ids are kept instead. The same suspect entry in two members
 * counts once (see the header). A member this module did not write is passed to
 * `onBad` and skipped whole.
 */
export class PendingWindowReader implements PendingWindow {
  readonly events: WindowEvents;
  readonly late: string[] = [];
  private readonly suspects = new Set<string>();

  /** `expected`: entries to make room for at once. */
  constructor(private readonly start: number, private readonly onBad: (member: string, err: unknown) => void, expected = 0) {
    this.events = new WindowEvents(expected);
  }

  add(members: readonly string[]): void {
    const w = this.events;
    for (const member of members) {
      const before = { size: w.size, commands: w.commands.length, late: this.late.length };
      const added: string[] = [];
      try {
        const raw = JSON.parse(member) as unknown;
        if (Array.isArray(raw) && raw[0] === CHUNK_V2) {
          readChunk(raw, w, this.start, this.late, this.suspects, added);
          continue;
        }
        for (const ev of fromParsedMember(raw)) {
          if (ev.t < this.start) this.late.push(eventId(ev));
          else if (ev.k !== 'enter' || ev.sus !== 1) w.add(ev);
          else {
            const id = eventId(ev);
            if (this.suspects.has(id)) continue;
            this.suspects.add(id);
            added.push(id);
            w.add(ev);
          }
        }
      } catch (err) {
        // Nothing of a bad member is kept.
        w.truncate(before.size);
        w.commands.length = before.commands;
        this.late.length = before.late;
        for (const id of added) this.suspects.delete(id);
        this.onBad(member, err);
      }
    }
  }
}

/** A window's pending members, all at once (PendingWindowReader). */
export function readPendingWindow(members: readonly string[], start: number, onBad: (member: string, err: unknown) => void): PendingWindow {
  const reader = new PendingWindowReader(start, onBad);
  reader.add(members);
  return reader;
}

function readChunk(raw: unknown[], w: WindowEvents, start: number, late: string[], suspects: Set<string>, added: string[] = []): void {
  const [, server, e, t0, table] = raw;
  if (typeof server !== 'string' || typeof e !== 'number' || typeof t0 !== 'number' || !Array.isArray(table) || table.length % 2 !== 0 || (raw.length - CHUNK_HEAD) % CHUNK_STRIDE !== 0) {
    throw new Error('pending chunk is not [3, server, epoch, t0, [treasure, region, ...], (counter step, time offset, player, treasure x 2 + suspect)...]');
  }
  const treasures: number[] = [];
  for (let i = 0; i < table.length; i += 2) {
    const tr = table[i] as unknown;
    const region = table[i + 1] as unknown;
    if (typeof tr !== 'string' || typeof region !== 'string') throw new Error('pending chunk: treasure table holds a non-string');
    treasures.push(w.treasure(tr, region));
  }
  const srv = w.server(server);
  const codes = 2 * treasures.length;
  let n = 0;
  for (let i = CHUNK_HEAD; i < raw.length; i += CHUNK_STRIDE) {
    const dn = raw[i];
    const dt = raw[i + 1];
    const p = raw[i + 2];
    const k = raw[i + 3];
    if (typeof dn !== 'number' || typeof dt !== 'number' || typeof p !== 'string' || typeof k !== 'number' || !(k >= 0 && k < codes) || !Number.isInteger(k)) {
      throw new Error(`pending chunk: entry ${(i - CHUNK_HEAD) / CHUNK_STRIDE} is not (counter step, time offset, player, treasure code below ${codes})`);
    }
    n += dn;
    const t = t0 + dt;
    if (t < start) {
      late.push(`${server}/${e}/${n}`);
      continue;
    }
    const sus = k & 1;
    if (sus === 1) {
      const id = `${server}/${e}/${n}`;
      if (suspects.has(id)) continue;
      suspects.add(id);
      added.push(id);
    }
    w.enter(srv, e, n, t, p, treasures[k >> 1]!, sus);
  }
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
