/**
 * Shard leases: which worker reads which shard. One lease per shard in Redis (SET PX
 * with the owner, renewed every third of its TTL), taken with a fencing token from a
 * counter that only grows, so a worker that was paused past its TTL can neither
 * checkpoint nor keep reading once another took the shard over.
 *
 * Balancing: live workers heartbeat into a ZSET; each aims for ceil(readable shards /
 * live workers) leases, takes free (or expired) ones up to that, and gives back one per
 * tick while it holds more. When no lease is free and it still holds at least two fewer
 * than the busiest live worker, it takes one lease over from that worker (at most one
 * at a time, once per tick, so a steal never sets off another): with 4 shards and 3 workers, 2/2/0 becomes 2/1/1, which
 * giving back alone never reaches (nobody holds more than ceil(4/3) = 2). The new token
 * fences the old holder out as a lease expiry would. Split and merged shards: a child is
 * readable only after each parent still listed has been read to its end.
 */
import { ListShardsCommand, type Shard } from '@aws-sdk/client-kinesis';
import { CairnError, ErrorCode, fnv1a } from '../protocol/index.js';
import { readCheckpoint, ShardReader, type ReaderContext, type ReaderEnd } from './shard-reader.js';
import { raceTimeout } from '../common/async.js';

/** ListShards is limited to 1000 calls/s per account (AWS Kinesis API reference); we need far fewer. */
const SHARD_LIST_REFRESH_MS = 5000;

export interface LeaseContext extends Omit<ReaderContext, 'onIngested'> {
  workerId: string;
  leaseMs: number;
  onIngested(): void;
}

/** What a stop could not do before its deadline. */
export interface LeasesStopReport {
  /** shards whose lease was not given back: it expires after its TTL */
  unreleased: string[];
  /** false: this worker is still in the live workers set until its heartbeat deadline passes */
  unregistered: boolean;
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

  /** Wakes every reader from its idle pause (ShardReader.wake). */
  wake(): void {
    for (const h of this.held.values()) h.reader.wake();
  }

  async start(): Promise<void> {
    await this.tick();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .catch((err: unknown) => this.ctx.log.warn({ err }, 'lease tick failed'))
        .finally(() => {
          this.ticking = undefined;
          this.schedule();
        });
    }, Math.max(10, Math.floor(this.ctx.leaseMs / 3)));
  }

  /**
   * Stops reading and gives every lease back, within `timeoutMs`: with Redis or Kinesis
   * down a release never answers (commands wait for the reconnect), so past the deadline
   * what is left is abandoned and reported; those leases expire after their TTL.
   */
  async stop(timeoutMs: number): Promise<LeasesStopReport> {
    this.stopping = true;
    clearTimeout(this.timer);
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(0, deadline - Date.now());
    if (this.ticking) await raceTimeout(this.ticking, left());
    const shards = [...this.held.keys()];
    const released = await Promise.all(
      shards.map((shard) =>
        raceTimeout(
          this.giveBack(shard, 'released').then(
            () => true,
            (err: unknown) => {
              this.ctx.log.warn({ shard, err }, 'lease release failed');
              return false;
            },
          ),
          left(),
        ),
      ),
    );
    const unregistered = await raceTimeout(
      this.ctx.redis.zrem(this.ctx.keys.workers(), this.ctx.workerId).then(
        () => true,
        () => false,
      ),
      left(),
    );
    return { unreleased: shards.filter((_, i) => released[i] !== true).sort(), unregistered: unregistered === true };
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
    await this.tickOnce();
    this.ctx.metrics.leaseTick();
  }

  private async tickOnce(): Promise<void> {
    const { redis, keys, scripts, workerId, leaseMs, log } = this.ctx;
    const now = Date.now();
    const wk = keys.workers();
    await redis.multi().zadd(wk, now + leaseMs, workerId).zremrangebyscore(wk, '-inf', now).exec();
    const liveIds = new Set(await redis.zrange(wk, 0, '-1'));
    const live = Math.max(1, liveIds.size);

    for (const [shard, h] of [...this.held]) {
      const ok = await scripts.renewLease(redis, keys, shard, workerId, h.token, leaseMs);
      if (!ok) {
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
    await this.acquireFree(readable, target);
    if (this.held.size < target && !this.stopping) await this.stealOne(readable, liveIds);
  }

  private async acquireFree(readable: string[], target: number): Promise<void> {
    const { redis, keys, scripts, workerId, leaseMs, log } = this.ctx;
    // Start at a place that depends on the worker id, so workers starting together do not all race for shard 0.
    const offset = fnv1a(workerId) % Math.max(1, readable.length);
    const order = [...readable.slice(offset), ...readable.slice(0, offset)];
    for (const shard of order) {
      if (this.held.size >= target || this.stopping) break;
      if (this.held.has(shard)) continue;
      const token = await scripts.acquireLease(redis, keys, shard, workerId, leaseMs);
      if (!token) continue;
      if (this.stopping) {
        // stop() began while this call was out: it does not know of the lease, so let go here.
        await scripts.releaseLease(redis, keys, shard, workerId, token);
        return;
      }
      this.startReading(shard, token, 'acquired');
      log.info({ shard, token }, 'shard lease acquired');
    }
  }

  /**
   * Takes one lease over from the live worker holding the most, when that worker holds
   * at least two more than this one (so the move narrows the gap and cannot bounce back)
   * and is not over the target (then it gives leases back by itself).
   * Ties go to the smallest worker id, so thieves agree on whom to take from.
   */
  private async stealOne(readable: string[], liveIds: Set<string>): Promise<void> {
    const { redis, keys, scripts, workerId, leaseMs, log } = this.ctx;
    if (!readable.length) return;
    const target = Math.ceil(readable.length / Math.max(1, liveIds.size));
    // One GET per lease, not MGET: on a Redis Cluster the leases live in different slots.
    const owners = await Promise.all(readable.map((s) => redis.get(keys.lease(s))));
    // A lease given back since acquireFree looked is free now: take it next tick rather than fence a live reader.
    if (owners.some((o) => !o)) return;
    const byOwner = new Map<string, string[]>();
    readable.forEach((shard, i) => {
      const o = owners[i];
      // Only from live workers: a dead one's leases expire and are taken as free ones.
      if (!o || o === workerId || !liveIds.has(o)) return;
      let list = byOwner.get(o);
      if (!list) byOwner.set(o, (list = []));
      list.push(shard);
    });
    let busiest: [string, string[]] | undefined;
    for (const entry of [...byOwner].sort(([a], [b]) => (a < b ? -1 : 1))) if (!busiest || entry[1].length > busiest[1].length) busiest = entry;
    // A worker over the target gives leases back by itself, one per tick: wait for those rather than fence a live reader.
    if (!busiest || busiest[1].length - this.held.size < 2 || busiest[1].length > target) return;
    const [from, theirs] = busiest;
    const shard = theirs.sort().at(-1)!;
    const token = await scripts.stealLease(redis, keys, shard, from, workerId, leaseMs);
    if (!token) return;
    if (this.stopping) {
      await scripts.releaseLease(redis, keys, shard, workerId, token);
      return;
    }
    this.startReading(shard, token, 'stolen');
    log.info({ shard, token, from, theirs: theirs.length, mine: this.held.size }, 'shard lease taken over from the busiest worker for balancing');
  }

  private startReading(shard: string, token: number, change: 'acquired' | 'stolen'): void {
    const reader = new ShardReader(this.ctx, shard, token);
    this.held.set(shard, { token, reader });
    this.ctx.metrics.leaseChange(change, this.held.size);
    void reader.done.then((end) => this.readerEnded(shard, reader, end));
  }

  private async readerEnded(shard: string, reader: ShardReader, end: ReaderEnd): Promise<void> {
    const h = this.held.get(shard);
    if (!h || h.reader !== reader || end === 'stopped') return;
    // The shard is finished, or its checkpoint was refused: give the lease up (a no-op if it is no longer ours).
    await this.giveBack(shard, end === 'lost' ? 'lost' : 'released').catch((err: unknown) => this.ctx.log.warn({ shard, err }, 'lease release failed'));
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
    await scripts.releaseLease(redis, keys, shard, workerId, h.token);
  }
}
