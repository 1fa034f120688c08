/**
 * The second step of a window commit: the prizes a commit set, and a window-closed entry,
 * onto the servers' prize streams. The commit (lua/commit-window.lua) runs in the hunt's
 * hash slot and leaves one fan-out entry per window in the hunt's fan-out set; this puts
 * each window on every server's stream with one script per server
 * (lua/fan-out-window-2.lua, in the server's slot), then removes the entry. On a Redis
 * Cluster the hunt and its servers live on different nodes, and no script may span two.
 *
 * Resumable and idempotent: any worker, at any pass, fans out what is left, oldest window
 * first. A server's stream records the end of the last window it got, so a window fanned
 * out twice (a crash before the entry was removed, two workers at once) is appended once.
 * Windows go out in order, so a server never gets a window's closed entry before an
 * earlier window's prizes.
 */
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../backend/redis/keys.js';
import type { FanOutWindow, WorkerScripts } from './scripts.js';

/** Fan-out entries read per round. */
const BATCH = 16;

export function parseFanOutEntry(hunt: string, member: string): FanOutWindow {
  const a = JSON.parse(member) as unknown;
  if (!Array.isArray(a) || a.length < 2 || (a.length - 2) % 5 !== 0 || !a.every((x) => typeof x === 'string')) {
    throw new Error(`fan-out entry of hunt ${hunt} is not [start, end, (reason, server, player, item, count)*]: ${member.slice(0, 200)}`);
  }
  const s = a as string[];
  const prizes: FanOutWindow['prizes'] = [];
  for (let i = 2; i < s.length; i += 5) prizes.push({ reason: s[i]!, server: s[i + 1]!, player: s[i + 2]!, item: s[i + 3]!, count: s[i + 4]! });
  return { hunt, start: Number(s[0]), end: Number(s[1]), prizes };
}

/**
 * Fans out every committed window of `hunt` still waiting, in order, to every server in
 * the registry and every server a prize is for. Returns how many windows it removed.
 */
export async function fanOutWindows(redis: Redis, keys: RedisKeys, scripts: WorkerScripts, hunt: string): Promise<number> {
  let done = 0;
  for (;;) {
    const members = await redis.zrange(keys.fanOut(hunt), '0', String(BATCH - 1));
    if (!members.length) return done;
    const registry = await redis.hkeys(keys.servers());
    for (const member of members) {
      const w = parseFanOutEntry(hunt, member);
      const servers = new Set(registry);
      for (const p of w.prizes) servers.add(p.server);
      await Promise.all([...servers].map((s) => scripts.fanOutWindow(redis, keys, s, w)));
      await redis.zrem(keys.fanOut(hunt), member);
      done++;
    }
  }
}
