/**
 * The batch worker: reads the event stream (shard leases, fenced checkpoints), ingests
 * records idempotently into per-hunt pending sets, and closes event-time windows into
 * prizes with one atomic commit each. Any number of workers may run against the same
 * stream and Redis; none takes a global lock, and none can award a prize twice.
 *
 *   shard-leases.ts   which worker reads which shard; fencing tokens; balancing
 *   shard-reader.ts   GetRecords loop of one shard, checkpoints
 *   record-ingest.ts  one record -> pending events + batch watermark (lua/ingest-record.lua)
 *   window-closer.ts  frontier, windows, fold, commit (lua/commit-window.lua)
 *   window-commit.ts  the one atomic write per window (lua/commit-window.lua)
 *   scripts.ts        every Lua script's KEYS and ARGV, and its typed reply
 *   pending-events.ts how events wait for their window (one member per record and window)
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { CairnError, ErrorCode } from '../protocol/index.js';
import { logger } from '../common/log.js';
import type { RedisKeys } from '../backend/redis/keys.js';
import { WorkerMetrics, type WorkerStats } from './metrics.js';
import { workerScripts } from './scripts.js';
import { ShardLeases } from './shard-leases.js';
import { WindowCloser, type CommitHooks } from './window-closer.js';

export type { WorkerStats } from './metrics.js';
export type { DecidedPrize } from '../hunt/hunt-fold.js';
export { readDecidedPrizes, type CommitHooks } from './window-closer.js';
export { redisSettingsWarnings } from './redis-settings.js';

export interface WorkerOptions {
  redis: Redis;
  keys: RedisKeys;
  kinesis: KinesisClient;
  /** Kinesis stream name. */
  stream: string;
  /** Owner name on shard leases; unique per worker. @default `${hostname}-${pid}-${random}` */
  workerId?: string;
  /** Pause between empty GetRecords calls, and between window-close passes. @default 200 */
  pollMs?: number;
  /** Event time a window waits after every server's watermark passed its end. @default 0 */
  graceMs?: number;
  /** Shard lease TTL; renewed every third of it. @default 10000 */
  leaseMs?: number;
  /**
   * A server from which no record arrived for this long (wall clock) stops holding
   * windows back; its events for windows closed meanwhile are late. 0 disables.
   * Plugins send heartbeats, so only a dead or cut-off server goes silent. @default 300000
   */
  silentServerMs?: number;
  /** Where metrics are registered. @default a new Registry of its own */
  registry?: Registry;
  /** Fault-injection points around window commits, for tests only. @default none */
  hooks?: CommitHooks;
}

export interface Worker {
  readonly workerId: string;
  /** A snapshot of the worker's figures. */
  stats(): WorkerStats;
  /** The shards this worker holds leases on now. */
  shards(): string[];
  /** The metrics registry (the one passed in, or the worker's own). */
  readonly registry: Registry;
  /** Stops reading, waits for work in progress, gives the leases back. Does not close redis or kinesis. */
  stop(): Promise<void>;
}

interface Resolved {
  workerId: string;
  pollMs: number;
  graceMs: number;
  leaseMs: number;
  silentServerMs: number;
}

function resolveOptions(o: WorkerOptions): Readonly<Resolved> {
  const num = (name: keyof Resolved, v: number | undefined, def: number, min: number, max: number): number => {
    if (v === undefined) return def;
    if (!Number.isInteger(v) || v < min || v > max) throw new CairnError(ErrorCode.ConfigInvalid, `worker option ${name}=${String(v)}: must be an integer from ${min} to ${max}`);
    return v;
  };
  for (const name of ['redis', 'keys', 'kinesis', 'stream'] as const) {
    if (!o[name]) throw new CairnError(ErrorCode.ConfigInvalid, `worker option ${name} is required`);
  }
  const workerId = o.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(workerId)) throw new CairnError(ErrorCode.ConfigInvalid, `worker option workerId=${JSON.stringify(workerId)}: use 1-128 of A-Z a-z 0-9 _ . : -`);
  const leaseMs = num('leaseMs', o.leaseMs, 10_000, 300, 600_000);
  return Object.freeze({
    workerId,
    pollMs: num('pollMs', o.pollMs, 200, 1, 60_000),
    graceMs: num('graceMs', o.graceMs, 0, 0, 86_400_000),
    leaseMs,
    silentServerMs: num('silentServerMs', o.silentServerMs, 300_000, 0, 86_400_000),
  });
}

export async function startWorker(opts: WorkerOptions): Promise<Worker> {
  const o = resolveOptions(opts);
  const { redis, keys, kinesis, stream } = opts;
  const log = logger('worker').child({ worker: o.workerId });
  const metrics = new WorkerMetrics(opts.registry);
  const scripts = workerScripts();
  const closer = new WindowCloser({ redis, keys, scripts, metrics, log, graceMs: o.graceMs, silentServerMs: o.silentServerMs, ...(opts.hooks ? { hooks: opts.hooks } : {}) });

  let stopped = false;
  let closeTimer: NodeJS.Timeout | undefined;
  let kicked = false;
  const runCloser = () =>
    closer.run().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'window close pass failed; retrying'));
  const scheduleClose = () => {
    if (stopped) return;
    closeTimer = setTimeout(() => {
      kicked = false;
      void runCloser().finally(scheduleClose);
    }, o.pollMs);
  };
  const kick = () => {
    if (stopped || kicked) return;
    kicked = true;
    void runCloser();
  };

  const leases = new ShardLeases({
    redis, keys, scripts, kinesis, stream, metrics, log, pollMs: o.pollMs, workerId: o.workerId, leaseMs: o.leaseMs, onIngested: kick,
  });
  log.info({ stream, pollMs: o.pollMs, graceMs: o.graceMs, leaseMs: o.leaseMs, silentServerMs: o.silentServerMs }, 'worker starting');
  try {
    await leases.start();
  } catch (err) {
    await leases.stop().catch(() => {});
    throw err;
  }
  scheduleClose();

  return {
    workerId: o.workerId,
    registry: metrics.registry,
    stats: () => ({ ...metrics.stats, shardsHeld: leases.count }),
    shards: () => leases.heldShards(),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(closeTimer);
      await leases.stop();
      await closer.idle();
      log.info({ stats: metrics.stats }, 'worker stopped');
    },
  };
}
