/**
 * The Redis settings Cairn's guarantees rest on: nothing may be evicted (an LFU or
 * LRU policy can drop a whole prize stream, a pending set or a checkpoint under memory
 * pressure), and writes must survive a restart (appendonly). `cairn worker` logs these
 * warnings at start; embedded runs (replay, demo, tests) knowingly run without them.
 */
import type { Redis } from 'ioredis';

export async function redisSettingsWarnings(redis: Redis): Promise<string[]> {
  let policy: string | undefined;
  let appendonly: string | undefined;
  try {
    const [p, a] = await Promise.all([redis.config('GET', 'maxmemory-policy'), redis.config('GET', 'appendonly')]);
    policy = (p as string[])[1];
    appendonly = (a as string[])[1];
  } catch (err) {
    return [`cannot read the Redis settings (CONFIG GET: ${(err as Error).message}); make sure maxmemory-policy is noeviction and appendonly is yes`];
  }
  const out: string[] = [];
  if (policy !== 'noeviction') {
    out.push(`Redis maxmemory-policy is ${policy ?? 'unknown'}: under memory pressure Redis may evict prize streams, pending events or checkpoints, losing prizes; set maxmemory-policy noeviction`);
  }
  if (appendonly !== 'yes') {
    out.push(`Redis appendonly is ${appendonly ?? 'unknown'}: a Redis restart loses the writes since the last snapshot (decided prizes, checkpoints); set appendonly yes (appendfsync everysec)`);
  }
  return out;
}
