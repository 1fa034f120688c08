/**
 * The frontier: how far event time has certainly advanced, over every active server. A
 * window may close once the frontier passed its end plus the grace (window-closer.ts).
 */
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../backend/redis/keys.js';
import { redisTimeMs } from '../backend/redis/time.js';

export interface Frontier {
  /** the lowest watermark that holds windows back; undefined: nothing may close */
  wm: number | undefined;
  /** servers left out because they have been silent longer than the timeout */
  silent: string[];
  /** the registry as read: server -> current epoch */
  epochs: Map<string, number>;
}

/**
 * The lowest watermark over the servers in the registry (keys.servers(): server ->
 * current epoch). Undefined when there are no servers or one has no watermark yet:
 * nothing may close then. With `silentMs` > 0, a server from which no record has been
 * ingested for longer than that (Redis time) stops holding windows back, so one dead server cannot stall every hunt; its events
 * for windows closed meanwhile will be late. A server that has sent nothing at all is
 * timed from `firstSeen(server, now)` (when the caller first saw it without a watermark),
 * so a server that said hello and died before its first record cannot hold every hunt
 * back forever. If every server is silent, those whose last record came within `silentMs`
 * of the latest one count (the set that held windows back just before all went quiet).
 */
export async function readFrontier(
  redis: Redis,
  keys: RedisKeys,
  silentMs = 0,
  firstSeen: (server: string, now: number) => number = (_s, now) => now,
): Promise<Frontier> {
  const servers = await redis.hgetall(keys.servers());
  const entries = Object.entries(servers).sort(([a], [b]) => (a < b ? -1 : 1));
  const epochs = new Map(entries.map(([s, e]) => [s, Number(e)]));
  if (!entries.length) return { wm: undefined, silent: [], epochs };
  // Separate commands, not one pipeline: on a Redis Cluster the watermarks live in their
  // servers' slots. ioredis still writes them to each connection back to back.
  const [time, ...marks] = await Promise.all([
    redis.time(),
    ...entries.map(([server, epoch]) => redis.hmget(keys.watermark(server, Number(epoch)), 'wm', 'at')),
  ]);
  const now = redisTimeMs(time);
  const all = entries.map(([server], i) => {
    const [wm, at] = marks[i] as (string | null)[];
    const since = at !== null ? Number(at) : firstSeen(server, now);
    return { server, since, wm: wm === null ? undefined : Number(wm), silent: silentMs > 0 && now - since > silentMs };
  });
  const silent = all.filter((x) => x.silent).map((x) => x.server);
  let holding = all.filter((x) => !x.silent);
  if (!holding.length) {
    // Every server is quiet (the pipeline stalled, or the last active one paused). Those
    // that sent within silentMs of the latest record hold windows at their watermarks, as
    // they did a moment ago; one that had already fallen silent before them does not come
    // back and pull the frontier behind windows that closed without it.
    const latest = Math.max(...all.filter((x) => x.wm !== undefined).map((x) => x.since));
    holding = all.filter((x) => x.wm !== undefined && latest - x.since <= silentMs);
  }
  let min = Infinity;
  for (const x of holding) {
    if (x.wm === undefined) return { wm: undefined, silent, epochs };
    min = Math.min(min, x.wm);
  }
  return { wm: Number.isFinite(min) ? min : undefined, silent, epochs };
}
