/**
 * The one write that moves a hunt forward: a closed window's state, players' finds and
 * prizes, committed by lua/commit-window.lua (its header has the contract). The stored
 * format it writes is hunt/hunt-store.ts's.
 */
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../backend/redis/keys.js';
import type { CommitArgs, WorkerScripts } from './scripts.js';

export type { CommitArgs } from './scripts.js';

export type CommitStatus = 'committed' | 'resent' | 'stale' | 'servers-changed' | 'pending-changed';

const STATUS: Record<number, CommitStatus> = { 1: 'committed', 2: 'resent', 0: 'stale', [-1]: 'servers-changed', [-2]: 'pending-changed' };

/** Runs lua/commit-window.lua once, writing to every registered server's prize stream and each prize's. */
export async function commitWindow(redis: Redis, keys: RedisKeys, scripts: WorkerScripts, a: CommitArgs): Promise<{ status: CommitStatus; newPrizes: number }> {
  const servers = new Set(await redis.hkeys(keys.servers()));
  for (const p of a.prizes) servers.add(p.server);
  const { code, newPrizes } = await scripts.commitWindow(redis, keys, a, [...servers]);
  const status = STATUS[code];
  if (status === undefined) throw new Error(`commit-window.lua: unknown status ${code}`);
  return { status, newPrizes };
}
