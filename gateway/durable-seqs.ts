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

  /** Raises the durable seq of (server, epoch) to at least `seq`; 'fenced' when a newer epoch said hello. */
  async raise(server: string, epoch: number, seq: number): Promise<number | 'fenced'> {
    const res = Number(await setDurableScript.run(this.redis, [this.keys.durable(server, epoch), this.keys.epoch(server)], [seq, server, epoch, this.ttlMs]));
    return res === -1 ? 'fenced' : res;
  }

  /** The durable seq of (server, epoch), 0 if none. */
  async get(server: string, epoch: number): Promise<number> {
    return Number((await this.redis.get(this.keys.durable(server, epoch))) ?? 0);
  }
}
