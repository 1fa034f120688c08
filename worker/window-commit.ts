/**
 * The one write that moves a hunt forward: a closed window's state, prizes and changed
 * players' finds (one merge list), committed by lua/commit-window.lua in the hunt's hash
 * slot (its header has the contract). The stored format it writes is hunt/hunt-store.ts's.
 * The prizes reach the servers' streams in a second step, window-fan-out.ts, and the
 * finds reach the player buckets in a third, window-merge.ts.
 */
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../backend/redis/keys.js';
import type { CommitArgs, WorkerScripts } from './scripts.js';

export type { CommitArgs } from './scripts.js';

/**
 * `unmerged`: the previous window's finds were not merged into the player buckets yet;
 * `list-missing`: the merge list sent ahead was not there. Nothing written in either case.
 */
export type CommitStatus = 'committed' | 'resent' | 'stale' | 'pending-changed' | 'unmerged' | 'list-missing';

const STATUS: Record<number, CommitStatus> = { 1: 'committed', 2: 'resent', 0: 'stale', [-2]: 'pending-changed', [-3]: 'unmerged', [-4]: 'list-missing' };

/** Runs lua/commit-window.lua once. */
export async function commitWindow(redis: Redis, keys: RedisKeys, scripts: WorkerScripts, a: CommitArgs): Promise<{ status: CommitStatus; newPrizes: number }> {
  const { code, newPrizes } = await scripts.commitWindow(redis, keys, a);
  const status = STATUS[code];
  if (status === undefined) throw new Error(`commit-window.lua: unknown status ${code}`);
  return { status, newPrizes };
}
