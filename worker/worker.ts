/**
 * The batch worker: reads the event stream (shard leases, fenced checkpoints), ingests
 * records idempotently into per-hunt pending sets, and closes event-time windows into
 * prizes with one atomic commit each. Any number of workers may run against the same
 * stream and Redis; none takes a global lock, and none can award a prize twice.
 *
 *   shard-leases.ts   which worker reads which shard; fencing tokens; balancing
 *   shard-reader.ts   GetRecords loop of one shard, checkpoints
 *   record-ingest.ts  one record -> pending events + batch watermark (lua/part-seen-3, ingest-hunt-4, mark-part-3)
 *   window-frontier.ts the lowest watermark over active servers (silent ones left out)
 *   window-closer.ts  windows ready to close: read, fold, commit
 *   window-commit.ts  the one atomic write per window (lua/commit-window.lua)
 *   scripts.ts        every Lua script's KEYS and ARGV, and its typed reply
 *   pending-events.ts how events wait for their window (one member per record and window)
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { Type, type Static } from '@sinclair/typebox';
import { CairnError, ErrorCode } from '../protocol/index.js';
import { configCheck } from '../backend/config-check.js';
import { raceTimeout, TIMED_OUT } from '../common/async.js';
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
  /** Pause between window-close passes, and between empty GetRecords calls unless idleReadMs is set. @default 200 */
  pollMs?: number;
  /**
   * Pause between empty GetRecords calls. Longer than pollMs only where something calls
   * wake() when records are put (cli/stack.ts wires its gateway to its workers). @default pollMs
   */
  idleReadMs?: number;
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
  /**
   * How long stop() may take: past it, what is still running (a Redis that does not
   * answer, a Kinesis call) is abandoned and named in the log. The default leaves a
   * process room to close its connections and exit within 10 s. @default 6000
   */
  stopTimeoutMs?: number;
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
  /**
   * Records were just put into the stream (by a gateway in this process): the readers read
   * now instead of at the end of their pause after an empty read (`idleReadMs`).
   */
  wake(): void;
  /**
   * Stops reading, waits for work in progress, gives the leases back. Returns within
   * stopTimeoutMs whatever is down, logging what it could not release. Does not close
   * redis or kinesis: the caller does, which ends whatever was abandoned.
   */
  stop(): Promise<void>;
}

const WorkerOptionsSchema = Type.Object(
  {
    workerId: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$', description: 'use 1-128 of A-Z a-z 0-9 _ . : -' }),
    pollMs: Type.Integer({ default: 200, minimum: 1, maximum: 60_000 }),
    idleReadMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000 })),
    graceMs: Type.Integer({ default: 0, minimum: 0, maximum: 86_400_000 }),
    leaseMs: Type.Integer({ default: 10_000, minimum: 300, maximum: 600_000 }),
    silentServerMs: Type.Integer({ default: 300_000, minimum: 0, maximum: 86_400_000 }),
    stopTimeoutMs: Type.Integer({ default: 6000, minimum: 100, maximum: 600_000 }),
  },
  { additionalProperties: false },
);

const checkOptions = configCheck(WorkerOptionsSchema, { label: (name) => `worker option ${name}` });

function resolveOptions(o: WorkerOptions): Readonly<Static<typeof WorkerOptionsSchema>> {
  for (const name of ['redis', 'keys', 'kinesis', 'stream'] as const) {
    if (!o[name]) throw new CairnError(ErrorCode.ConfigInvalid, `worker option ${name} is required`);
  }
  const given: Record<string, unknown> = { workerId: o.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}` };
  for (const name of ['pollMs', 'idleReadMs', 'graceMs', 'leaseMs', 'silentServerMs', 'stopTimeoutMs'] as const) if (o[name] !== undefined) given[name] = o[name];
  return Object.freeze(checkOptions(given));
}

export async function startWorker(opts: WorkerOptions): Promise<Worker> {
  const o = resolveOptions(opts);
  const { redis, keys, kinesis, stream } = opts;
  const log = logger('worker').child({ worker: o.workerId });
  const metrics = new WorkerMetrics(opts.registry);
  const scripts = workerScripts();
  const closer = new WindowCloser({ redis, keys, scripts, metrics, log, graceMs: o.graceMs, silentServerMs: o.silentServerMs, ...(opts.hooks ? { hooks: opts.hooks } : {}) });

  let stopped = false;
  let stopping: Promise<void> | undefined;
  let closeTimer: NodeJS.Timeout | undefined;
  let kicked = false;
  const runCloser = () =>
    closer.run().catch((err: unknown) => {
      if (!stopped) log.warn({ err }, 'window close pass failed; retrying');
    });
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
    redis, keys, scripts, kinesis, stream, metrics, log, pollMs: o.idleReadMs ?? o.pollMs, workerId: o.workerId, leaseMs: o.leaseMs, onIngested: kick,
  });
  log.info({ stream, pollMs: o.pollMs, graceMs: o.graceMs, leaseMs: o.leaseMs, silentServerMs: o.silentServerMs }, 'worker starting');
  try {
    await leases.start();
  } catch (err) {
    await leases.stop(o.stopTimeoutMs).catch(() => {});
    throw err;
  }
  scheduleClose();

  return {
    workerId: o.workerId,
    registry: metrics.registry,
    stats: () => ({ ...metrics.stats, shardsHeld: leases.count }),
    shards: () => leases.heldShards(),
    wake: () => {
      if (!stopped) leases.wake();
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        clearTimeout(closeTimer);
        const deadline = Date.now() + o.stopTimeoutMs;
        const report = await leases.stop(o.stopTimeoutMs);
        const closing = await raceTimeout(closer.idle(), Math.max(0, deadline - Date.now()));
        const abandoned = report.unreleased.length > 0 || !report.unregistered || closing === TIMED_OUT;
        if (report.unreleased.length) {
          log.warn({ shards: report.unreleased, leaseMs: o.leaseMs }, 'could not give these shard leases back before the stop deadline (Redis or Kinesis not answering): they expire after leaseMs, then another worker takes the shards over');
        }
        if (!report.unregistered) log.warn({ leaseMs: o.leaseMs }, 'could not leave the live workers set before the stop deadline: others count this worker until its heartbeat expires (leaseMs)');
        if (closing === TIMED_OUT) log.warn('a window close pass was still running at the stop deadline: abandoned (a commit is all or nothing; another worker closes the window)');
        log.info({ stats: metrics.stats, stopTimeoutMs: o.stopTimeoutMs, clean: !abandoned }, 'worker stopped');
      })();
      return stopping;
    },
  };
}
