/**
 * Ingest of one Kinesis record: the hunt events it carries go to their hunts' pending
 * sets (or to the late set when their window already closed), and its part is marked
 * so the (server, epoch) watermark can advance once the batch and every earlier batch
 * are complete. Applying a record twice changes nothing: ioredis resends unanswered
 * commands after a reconnect, and Kinesis redelivers records after a lease takeover or a
 * checkpoint that did not land. The part is marked last (lua/mark-part-3.lua), so until
 * every event of it is pending, the record counts as not ingested.
 */
import type { Redis } from 'ioredis';
import { ID_PATTERN, windowMs, MIN_WINDOW_MS, type HuntEvent, type WireEvent } from '../protocol/index.js';
import type { EventRecord } from '../backend/kinesis/record-format.js';
import type { RedisKeys } from '../backend/redis/keys.js';
import { pendingEntries } from './pending-events.js';
import type { IngestHuntReply, WorkerScripts } from './scripts.js';

const ID_RE = new RegExp(ID_PATTERN);
/** Hunt ids as the rules schema allows them; they go into Redis keys inside {hash tags}. */
const HUNT_RE = /^[A-Za-z0-9_-]{1,64}$/;

export interface IngestResult {
  /** false when this part had been ingested before (nothing changed) */
  applied: boolean;
  events: number;
  stored: number;
  duplicateEvents: number;
  late: number;
  badEvents: number;
  /** the (server, epoch) watermark after the record, if any */
  watermark: number | undefined;
}

const isInt = (v: unknown, min: number): v is number => Number.isSafeInteger(v) && (v as number) >= min;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;

/** Checks the record header; returns what is wrong, or undefined. */
export function recordProblem(r: EventRecord): string | undefined {
  if (!ID_RE.test(r.s)) return `s: server id ${JSON.stringify(r.s)} does not match ${ID_PATTERN}`;
  if (!isInt(r.e, 0)) return 'e: epoch must be a non-negative integer';
  if (!isInt(r.q, 1)) return 'q: batch seq must be a positive integer';
  if (!isInt(r.np, 1)) return 'np: part count must be a positive integer';
  if (!isInt(r.pt, 0) || r.pt >= r.np) return `pt: part index must be an integer from 0 to ${r.np - 1}`;
  if (!isNum(r.wm)) return 'wm: watermark must be a number';
  return undefined;
}

/** A hunt event the fold can use, or undefined for a malformed one. */
function huntEvent(ev: WireEvent, server: string): HuntEvent | 'ignore' | undefined {
  if (!ev || typeof ev !== 'object') return undefined;
  if (ev.k === 'delta' || ev.k === 'join' || ev.k === 'leave') return 'ignore';
  if (!isNum(ev.t) || !isInt(ev.e, 0) || !isInt(ev.n, 0) || !isStr(ev.hunt) || !HUNT_RE.test(ev.hunt)) return undefined;
  switch (ev.k) {
    case 'enter':
      if (!isStr(ev.p) || !isStr(ev.tr) || !isStr(ev.region) || !Array.isArray(ev.at)) return undefined;
      return { ...ev, server };
    case 'start':
      if (!isStr(ev.p) || !ev.rules || typeof ev.rules !== 'object' || !isStr(ev.hash)) return undefined;
      return { ...ev, server };
    case 'stop':
      if (!isStr(ev.p)) return undefined;
      return { ...ev, server };
    case 'rules':
      return 'ignore';
    default:
      return undefined;
  }
}

/** Window length the rules ask for, or undefined when they do not say something usable. */
function rulesWindow(rules: unknown): number | undefined {
  try {
    const ms = windowMs(rules as Parameters<typeof windowMs>[0]);
    return Number.isSafeInteger(ms) && ms >= MIN_WINDOW_MS ? ms : undefined;
  } catch {
    return undefined;
  }
}

interface HuntPart {
  window: number | undefined;
  events: HuntEvent[];
}

/**
 * Window lengths already set in Redis, by key: the key is set once (SET NX) and never
 * changes, so it is read at most once per hunt per process. Entries are grouped into
 * one pending member per window only when the length is known (pending-events.ts).
 */
const knownWindows = new Map<string, number>();

async function storedWindow(redis: Redis, keys: RedisKeys, hunt: string): Promise<number | undefined> {
  const key = keys.window(hunt);
  const known = knownWindows.get(key);
  if (known !== undefined) return known;
  const v = Number(await redis.get(key));
  if (Number.isSafeInteger(v) && v > 0) {
    if (knownWindows.size > 10_000) knownWindows.clear();
    knownWindows.set(key, v);
    return v;
  }
  return undefined;
}

/** How long batch-part and batch-done keys live after their last write: far beyond any resend (cf. DURABLE_TTL_MS). */
export const BATCH_KEYS_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export async function ingestRecord(redis: Redis, keys: RedisKeys, scripts: WorkerScripts, r: EventRecord): Promise<IngestResult> {
  const hunts = new Map<string, HuntPart>();
  let badEvents = 0;
  const part = (hunt: string): HuntPart => {
    let h = hunts.get(hunt);
    if (!h) hunts.set(hunt, (h = { window: undefined, events: [] }));
    return h;
  };
  for (const ev of r.ev) {
    if (ev && typeof ev === 'object' && ev.k === 'rules') {
      if (!isStr(ev.hunt) || !HUNT_RE.test(ev.hunt)) {
        badEvents++;
        continue;
      }
      const h = part(ev.hunt);
      h.window ??= rulesWindow(ev.rules);
      // Rules events are folded too: a hunt's `schedule` starts it without any command.
      if (isNum(ev.t) && isInt(ev.e, 0) && isInt(ev.n, 0) && ev.rules && typeof ev.rules === 'object' && isStr(ev.hash)) {
        h.events.push({ ...ev, server: r.s });
      }
      continue;
    }
    const he = huntEvent(ev, r.s);
    if (he === 'ignore') continue;
    if (!he) {
      badEvents++;
      continue;
    }
    const h = part(he.hunt);
    if (he.k === 'start') h.window ??= rulesWindow(he.rules);
    h.events.push(he);
  }

  // Three steps, each a script in one hash slot (a Redis Cluster refuses scripts over
  // two): is the part new (the server's slot); its events into each hunt's pending set
  // (each hunt's slot); then the part marked, which lets the watermark pass its events.
  // A crash between them leaves the part unmarked, so Kinesis delivers the record again
  // and its events are added again: the same members, so no-ops.
  const seen = await scripts.partSeen(redis, keys, r);
  if (seen.seen) return { applied: false, events: r.ev.length, stored: 0, duplicateEvents: 0, late: 0, badEvents: 0, watermark: seen.wm };
  if (hunts.size) await redis.sadd(keys.hunts(), ...hunts.keys());
  const counts = await Promise.all(
    [...hunts].map(async ([hunt, h]) => {
      let res: IngestHuntReply;
      for (let attempt = 0; ; attempt++) {
        // Not set yet: this record's rules set it (SET NX); the script checks that the
        // length the entries were grouped by is the one stored, else we group again.
        const L = attempt === 0 ? ((await storedWindow(redis, keys, hunt)) ?? h.window) : undefined;
        res = await scripts.ingestHunt(redis, keys, hunt, h.window, L, pendingEntries(h.events, L));
        if (res.applied !== -1 || attempt > 0) return res;
      }
    }),
  );
  const mark = await scripts.markPart(redis, keys, r, BATCH_KEYS_TTL_MS);
  const sum = (f: (x: IngestHuntReply) => number) => counts.reduce((n, x) => n + f(x), 0);
  return {
    applied: mark.applied,
    events: r.ev.length,
    stored: sum((x) => x.stored),
    duplicateEvents: sum((x) => x.duplicateEvents),
    late: sum((x) => x.late),
    badEvents: mark.applied ? badEvents : 0,
    watermark: mark.wm,
  };
}
