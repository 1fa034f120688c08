/**
 * Which batches are durable, and which plugin instances are fenced out, in Redis: the
 * highest durable seq per (server, epoch), and per server the newest epoch that said
 * hello. Shared by every gateway instance, so a batch resent to another gateway is
 * still recognised.
 */
import type { Redis } from 'ioredis';
import { LuaScript, luaFile } from '../backend/redis/lua-script.js';
import type { RedisKeys } from '../backend/redis/keys.js';

/**
 * How long a (server, epoch)'s durable seq is kept after its last batch. A plugin
 * resends only what its outbox holds, and an epoch older than the newest is fenced
 * anyway, so a week is far beyond any resend this key must recognise.
 */
export const DURABLE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

const helloScript = new LuaScript(luaFile(import.meta.url, 'lua/hello-2.lua'));
const setDurableScript = new LuaScript(luaFile(import.meta.url, 'lua/set-durable-2.lua'));
const registerScript = new LuaScript(luaFile(import.meta.url, 'lua/register-server-1.lua'));

interface PendingRaise {
  keys: [string, string];
  args: [number, string, number, number];
  resolve(raw: unknown): void;
  reject(err: unknown): void;
}

export type HelloResult = { ok: true; durable: number } | { ok: false; newestEpoch: number };

export class DurableSeqs {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlMs = DURABLE_TTL_MS,
  ) {}

  /** Registers (server, epoch) unless a newer epoch of the server was seen; returns its durable seq. */
  async hello(server: string, epoch: number): Promise<HelloResult> {
    const res = (await helloScript.run(this.redis, [this.keys.epoch(server), this.keys.durable(server, epoch)], [epoch])) as [number, number];
    if (res[0] !== 1) return { ok: false, newestEpoch: Number(res[1]) };
    // A second step, after the fence: the registry holds every server, so it cannot share the
    // server's hash tag. A crash in between leaves the server unregistered until its next hello,
    // which it sends on reconnecting.
    await registerScript.run(this.redis, [this.keys.servers()], [server, epoch]);
    return { ok: true, durable: Number(res[1]) };
  }

  /**
   * Raises the durable seq of (server, epoch) to at least `seq`; 'fenced' when a newer
   * epoch said hello. Raises asked for in one tick (the connections whose batches one
   * Kinesis call settled) go to Redis in one write.
   */
  async raise(server: string, epoch: number, seq: number): Promise<number | 'fenced'> {
    const res = Number(await new Promise<unknown>((resolve, reject) => {
      if (this.raises.push({ keys: [this.keys.durable(server, epoch), this.keys.epoch(server)], args: [seq, server, epoch, this.ttlMs], resolve, reject }) === 1) {
        process.nextTick(() => this.flushRaises());
      }
    }));
    return res === -1 ? 'fenced' : res;
  }

  private raises: PendingRaise[] = [];

  /**
   * Sends the raises asked for since the last flush: one alone as it is, several in one
   * pipeline (one socket write and one read), except on a Redis Cluster, where the keys of
   * different servers live on different nodes. A raise the pipeline failed (NOSCRIPT after
   * a Redis restart, a dropped connection) is sent again alone, which loads the script or
   * waits for the reconnection; applying a raise twice changes nothing.
   */
  private flushRaises(): void {
    const calls = this.raises;
    this.raises = [];
    const alone = (c: PendingRaise) => void setDurableScript.run(this.redis, c.keys, c.args).then(c.resolve, c.reject);
    if (calls.length === 1 || this.redis.isCluster) {
      calls.forEach(alone);
      return;
    }
    const pipe = this.redis.pipeline();
    for (const c of calls) pipe.evalsha(setDurableScript.sha, c.keys.length, ...c.keys, ...c.args);
    pipe.exec().then(
      (results) =>
        calls.forEach((c, i) => {
          const r = results?.[i];
          if (r && r[0] === null) c.resolve(r[1]);
          else alone(c);
        }),
      () => calls.forEach(alone),
    );
  }

  /** The durable seq of (server, epoch), 0 if none. */
  async get(server: string, epoch: number): Promise<number> {
    return Number((await this.redis.get(this.keys.durable(server, epoch))) ?? 0);
  }
}
