/**
 * What the live page needs that the worker's state does not hold, taken from the fresh
 * batches the gateway passes on: who is online on each server (join and leave events),
 * and a hunt's latest treasure entries with their positions (for the admin map and its
 * maxSpeed suspects). The worker folds neither: it ignores joins and leaves, and keeps of
 * an entry only whether it became a find.
 *
 * Idempotent under resends: a set per (server, epoch) takes a join twice as once, and a
 * resent batch replays its joins and leaves in their order. A new epoch (a restarted
 * plugin) starts a new set, so players of the dead instance never linger. Writes are
 * fire-and-forget on the batch path: a failed write is logged and counted, never acked
 * late for it.
 */
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import type { WireEvent } from '../../protocol/index.js';
import type { RedisKeys } from '../../backend/redis/keys.js';
import { logger } from '../../common/log.js';

const log = logger('live-page');

/** Entries kept per hunt for the admin map. */
export const ENTRIES_KEPT = 500;
/** An online set not written for this long belongs to a server that went away. */
const ONLINE_TTL_S = 24 * 60 * 60;

/** One treasure entry as the admin map shows it. */
export interface TappedEntry {
  t: number;
  player: string;
  server: string;
  treasure: string;
  region: string;
  at: [number, number, number];
  /** broke the hunt's maxSpeed: no find */
  suspect: boolean;
}

export type BatchTap = (server: string, epoch: number, events: readonly WireEvent[]) => void;

export function eventTap(redis: Redis, keys: RedisKeys, registry: Registry): BatchTap {
  const name = 'cairn_live_page_tap_errors_total';
  const errors =
    (registry.getSingleMetric(name) as Counter | undefined) ??
    new Counter({ name, help: 'Batches whose joins, leaves or entries the live page could not record in Redis.', registers: [registry] });
  return (server, epoch, events) => {
    // Separate commands, not one pipeline: on a Redis Cluster the server's and the hunts' keys live in different slots.
    const writes: Promise<unknown>[] = [];
    let online: string | undefined;
    const hunts = new Set<string>();
    for (const ev of events) {
      if (ev.k === 'join' || ev.k === 'leave') {
        online ??= keys.online(server, epoch);
        writes.push(ev.k === 'join' ? redis.sadd(online, ev.p) : redis.srem(online, ev.p));
      } else if (ev.k === 'enter') {
        const entry: TappedEntry = { t: ev.t, player: ev.p, server, treasure: ev.tr, region: ev.region, at: ev.at, suspect: ev.sus === 1 };
        writes.push(redis.lpush(keys.entries(ev.hunt), JSON.stringify(entry)));
        hunts.add(ev.hunt);
      }
    }
    if (!writes.length) return;
    if (online) writes.push(redis.expire(online, ONLINE_TTL_S));
    for (const hunt of hunts) writes.push(redis.ltrim(keys.entries(hunt), 0, ENTRIES_KEPT - 1));
    Promise.all(writes).catch((err: unknown) => {
      errors.inc();
      log.warn({ err, server, epoch }, 'live page: could not record a batch\'s joins, leaves or entries');
    });
  };
}
