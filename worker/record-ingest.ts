/**
 * Ingest of one Kinesis record: the hunt events it carries go to their hunts' pending
 * sets (or to the late set when their window already closed), and its part is marked
 * so the (server, epoch) watermark can advance once the batch and every earlier batch
 * are complete. One Lua script per record (lua/ingest-record.lua), so a record is
 * applied entirely or not at all, and applying it twice changes nothing: ioredis
 * resends unanswered commands after a reconnect, and Kinesis redelivers records
 * after a lease takeover or a checkpoint that did not land.
 */
import type { Redis } from 'ioredis';
import { windowMs, MIN_WINDOW_MS, type DiscreteEvent, type HuntEvent } from '../protocol/index.js';
import type { EventRecord } from '../backend/kinesis/record-format.js';
import type { RedisKeys } from '../backend/redis/keys.js';
import { pendingEntries } from './pending-events.js';
import type { IngestReply, WorkerScripts } from './scripts.js';

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

  const k: string[] = [keys.hunts(), keys.batchParts(r.s, r.e, r.q), keys.batchDone(r.s, r.e), keys.watermark(r.s, r.e)];
  for (const hunt of hunts.keys()) k.push(keys.closed(hunt), keys.pending(hunt), keys.late(hunt), keys.window(hunt));
  let res: IngestReply;
  for (let attempt = 0; ; attempt++) {
    const argv: (string | number)[] = [r.q, r.pt, r.np, String(r.wm), BATCH_KEYS_TTL_MS, hunts.size];
    for (const [hunt, h] of hunts) {
      // Not set yet: this record's rules set it (SET NX); the script checks that the
      // length the entries were grouped by is the one stored, else we group again.
      const L = attempt === 0 ? ((await storedWindow(redis, keys, hunt)) ?? h.window) : undefined;
      const entries = pendingEntries(h.events, L);
      argv.push(hunt, h.window === undefined ? '' : String(h.window), L === undefined ? '' : String(L), entries.length);
      for (const e of entries) argv.push(e.score, e.member, e.ids, e.n, e.last);
    }
    res = await scripts.lua.ingestRecord.run(redis, k, argv);
    if (res.applied !== -1 || attempt > 0) break;
  }
  return {
    applied: res.applied === 1,
    events: r.ev.length + badEvents,
    stored: res.stored,
    duplicateEvents: res.duplicateEvents,
    late: res.late,
    badEvents: res.applied === 1 ? badEvents : 0,
    watermark: res.wm === '' ? undefined : Number(res.wm),
  };
}
