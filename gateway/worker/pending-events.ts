/**
 * How a hunt event is stored while it waits for its window (a member of the hunt's
 * pending ZSET, scored by event time). The encoding is canonical JSON (keys sorted at
 * every level), so the same event from a duplicate or re-aggregated record is the same
 * member and ZADD makes it a no-op.
 */
import type { HuntEvent } from '../../protocol/index.js';

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

export function encodePendingEvent(ev: HuntEvent): string {
  return JSON.stringify(canonical(ev));
}

/** Throws when the member is not JSON of an object with the fields the fold reads. */
export function decodePendingEvent(member: string): HuntEvent {
  const ev = JSON.parse(member) as HuntEvent;
  if (!ev || typeof ev !== 'object' || typeof ev.t !== 'number' || typeof ev.server !== 'string' || typeof ev.hunt !== 'string') {
    throw new Error('pending member is not a hunt event');
  }
  return ev;
}

/** The identity of a discrete event: (server, epoch, counter). Used in the late set and logs. */
export function eventId(ev: Pick<HuntEvent, 'server' | 'e' | 'n'>): string {
  return `${ev.server}/${ev.e}/${ev.n}`;
}
