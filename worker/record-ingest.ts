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
import { windowMs, MIN_WINDOW_MS, type DiscreteEvent, type HuntEvent } from '../protocol/index.js';
import type { EventRecord } from '../backend/kinesis/record-format.js';
import type { RedisKeys } from '../backend/redis/keys.js';
import { pendingEntries } from './pending-events.js';
import type { IngestHuntReply, WorkerScripts } from './scripts.js';

/** Header checks live with the record format; re-exported for the shard reader. */
export { recordProblem } from '../backend/kinesis/record-format.js';

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

/**
 * The hunt event of a discrete event, or undefined for joins and leaves. Events reach
 * here checked (backend/kinesis/record-format.ts `decodeRecord`); the moves block is not
 * looked at: positions decide no prize (finds come from `enter` events).
 */
function huntEvent(ev: DiscreteEvent, server: string): HuntEvent | undefined {
  switch (ev.k) {
    case 'enter':
    case 'start':
    case 'stop':
    case 'rules':
      return { ...ev, server };
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

export async function ingestRecord(
  redis: Redis,
  keys: RedisKeys,
  scripts: WorkerScripts,
  r: EventRecord & { badEvents?: number },
): Promise<IngestResult> {
  const hunts = new Map<string, HuntPart>();
  for (const ev of r.ev) {
    const he = huntEvent(ev, r.s);
    if (!he) continue;
    let h = hunts.get(he.hunt);
    if (!h) hunts.set(he.hunt, (h = { window: undefined, events: [] }));
    // Rules events are folded too: a hunt's `schedule` starts it without any command.
    if (he.k === 'start' || he.k === 'rules') h.window ??= rulesWindow(he.rules);
    h.events.push(he);
  }
  const badEvents = r.badEvents ?? 0;

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
    events: r.ev.length + badEvents,
    stored: sum((x) => x.stored),
    duplicateEvents: sum((x) => x.duplicateEvents),
    late: sum((x) => x.late),
    badEvents: mark.applied ? badEvents : 0,
    watermark: mark.wm,
  };
}
