/**
 * Shard leases: which worker reads which shard. One lease per shard in Redis (SET PX
 * with the owner, renewed every third of its TTL), taken with a fencing token from a
 * counter that only grows, so a worker that was paused past its TTL can neither
 * checkpoint nor keep reading once another took the shard over.
 *
 * Balancing, kept simple: live workers heartbeat into a ZSET; each aims for
 * ceil(readable shards / live workers) leases, takes free (or expired) ones up to that,
 * and gives back one per tick while it holds more. Split and merged shards: a child is
 * readable only after each parent still listed has been read to its end.
 */
import { ListShardsCommand, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';
import type { Redis } from 'ioredis';
import { CairnError, ErrorCode } from '../../protocol/index.js';
import type { Logger } from '../../protocol/log.js';
import type { RedisKeys } from '../redis-keys.js';
import type { WorkerMetrics } from './metrics.js';
import { readCheckpoint, ShardReader, type ReaderContext, type ReaderEnd } from './shard-reader.js';
import type { WorkerScripts } from './scripts.js';

/**
 * ZSET worker id -> heartbeat deadline (ms), the live workers for balancing.
 * Not in RedisKeys yet (shared file): see the report; move it there as `workers()`.
 */
export function workersKey(keys: RedisKeys): string {
  const k = keys as RedisKeys & { workers?: () => string };
  return typeof k.workers === 'function' ? k.workers() : `${keys.prefix}:workers`;
}

/** ListShards is limited to 1000 calls/s per account (AWS Kinesis API reference); we need far fewer. */
const SHARD_LIST_REFRESH_MS = 5000;

export interface LeaseContext extends Omit<ReaderContext, 'onIngested'> {
  workerId: string;
  leaseMs: number;
  onIngested(): void;
}

interface Held {
  token: number;
  reader: ShardReader;
}

export class ShardLeases {
  private readonly held = new Map<string, Held>();
  private shards: Shard[] = [];
  private listedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly ctx: LeaseContext) {}

  get count(): number {
    return this.held.size;
  }

  heldShards(): string[] {
    return [...this.held.keys()].sort();
  }

  async start(): Promise<void> {
    await this.tick();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .catch((err: unknown) => this.ctx.log.warn({ err: (err as Error).message }, 'lease tick failed'))
        .finally(() => {
          this.ticking = undefined;
          this.schedule();
        });
    }, Math.max(10, Math.floor(this.ctx.leaseMs / 3)));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.ticking;
    await Promise.all([...this.held.keys()].map((s) => this.giveBack(s, 'released')));
    await this.ctx.redis.zrem(workersKey(this.ctx.keys), this.ctx.workerId);
  }

  private async listShards(): Promise<Shard[]> {
    if (Date.now() - this.listedAt < SHARD_LIST_REFRESH_MS && this.shards.length) return this.shards;
    const out: Shard[] = [];
    let next: string | undefined;
    try {
      do {
        const res = await this.ctx.kinesis.send(new ListShardsCommand(next ? { NextToken: next } : { StreamName: this.ctx.stream }));
        out.push(...(res.Shards ?? []));
        next = res.NextToken;
      } while (next);
    } catch (err) {
      throw new CairnError(ErrorCode.KinesisUnavailable, `cannot list the shards of Kinesis stream ${this.ctx.stream}: ${(err as Error).message}`, { cause: err });
    }
    this.shards = out;
    this.listedAt = Date.now();
    return out;
  }

  /** Shards that still have records to read and whose parents (if still listed) are read to their end. */
  private async readable(): Promise<string[]> {
    const { redis, keys } = this.ctx;
    const shards = await this.listShards();
    const ids = new Set(shards.map((s) => s.ShardId!));
    const ended = new Map<string, boolean>();
    await Promise.all(shards.map(async (s) => ended.set(s.ShardId!, (await readCheckpoint(redis, keys, s.ShardId!)).ended)));
    return shards
      .filter((s) => !ended.get(s.ShardId!))
      .filter((s) => [s.ParentShardId, s.AdjacentParentShardId].every((p) => !p || !ids.has(p) || ended.get(p) === true))
      .map((s) => s.ShardId!)
      .sort();
  }

  async tick(): Promise<void> {
    if (this.stopping) return;
    const { redis, keys, scripts, workerId, leaseMs, log } = this.ctx;
    const now = Date.now();
    const wk = workersKey(keys);
    await redis.multi().zadd(wk, now + leaseMs, workerId).zremrangebyscore(wk, '-inf', now).exec();
    const live = Math.max(1, await redis.zcard(wk));

    for (const [shard, h] of [...this.held]) {
      const ok = await scripts.renewLease.run(redis, [keys.lease(shard), keys.leaseToken(shard)], [workerId, String(h.token), leaseMs]);
      if (ok !== 1) {
        log.warn({ shard, token: h.token }, 'shard lease lost (expired or taken over)');
        await this.drop(shard, 'lost');
      }
    }

    const readable = await this.readable();
    const target = Math.ceil(readable.length / live);
    if (this.held.size > target) {
      // Give one back per tick, so shards move gradually to workers that have fewer.
      const shard = this.heldShards().at(-1)!;
      log.info({ shard, held: this.held.size, target }, 'giving a shard lease back for balancing');
      await this.giveBack(shard, 'released');
      return;
    }
    if (this.held.size >= target) return;
    // Start at a place that depends on the worker id, so workers starting together do not all race for shard 0.
    const offset = hashString(workerId) % Math.max(1, readable.length);
    const order = [...readable.slice(offset), ...readable.slice(0, offset)];
    for (const shard of order) {
      if (this.held.size >= target || this.stopping) break;
      if (this.held.has(shard)) continue;
      const token = Number(await scripts.acquireLease.run(redis, [keys.lease(shard), keys.leaseToken(shard)], [workerId, leaseMs]));
      if (!token) continue;
      const reader = new ShardReader(this.ctx, shard, token);
      this.held.set(shard, { token, reader });
      this.ctx.metrics.leaseChange('acquired', this.held.size);
      log.info({ shard, token }, 'shard lease acquired');
      void reader.done.then((end) => this.readerEnded(shard, reader, end));
    }
  }

  private async readerEnded(shard: string, reader: ShardReader, end: ReaderEnd): Promise<void> {
    const h = this.held.get(shard);
    if (!h || h.reader !== reader || end === 'stopped') return;
    // The shard is finished, or its checkpoint was refused: give the lease up (a no-op if it is no longer ours).
    await this.giveBack(shard, end === 'lost' ? 'lost' : 'released').catch((err: unknown) => this.ctx.log.warn({ shard, err: (err as Error).message }, 'lease release failed'));
    if (end === 'shard-end') this.listedAt = 0;
  }

  private async drop(shard: string, change: 'lost' | 'released'): Promise<Held | undefined> {
    const h = this.held.get(shard);
    if (!h) return undefined;
    this.held.delete(shard);
    await h.reader.stop();
    this.ctx.metrics.leaseChange(change, this.held.size);
    return h;
  }

  private async giveBack(shard: string, change: 'lost' | 'released'): Promise<void> {
    const h = await this.drop(shard, change);
    if (!h) return;
    const { redis, keys, scripts, workerId } = this.ctx;
    await scripts.releaseLease.run(redis, [keys.lease(shard), keys.leaseToken(shard)], [workerId, String(h.token)]);
  }
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
