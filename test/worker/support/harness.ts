/**
 * What worker tests share: a stream of its own per test on the file's kinesalite (see
 * ../../support/fixtures.ts), a Redis prefix of its own per test, and the gateway's side
 * done by hand (records put with PutRecords, servers registered in keys.servers()).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Redis } from 'ioredis';
import { parseDuration } from '../../../protocol/index.js';
import { ensureStream } from '../../../backend/kinesis/client.js';
import { encodeRecord, type EventRecord } from '../../../backend/kinesis/record-format.js';
import { parsePrizeStreamEntry, type PrizeStreamEntry } from '../../../backend/prize-stream.js';
import { startWorker, type Worker, type WorkerOptions } from '../../../worker/worker.js';
import { deletePrefix, testRedis, uniquePrefix } from '../../support/redis.js';
import { connectRedis } from '../../../backend/redis/connect.js';
import { RedisKeys } from '../../../backend/redis/keys.js';

export interface Env {
  redis: Redis;
  keys: RedisKeys;
  kinesis: KinesisClient;
  stream: string;
  workers: Worker[];
  start(extra?: Partial<WorkerOptions>): Promise<Worker>;
  put(records: EventRecord[] | Buffer[], seed?: number): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * A stream of its own (with `shards` shards) and a Redis prefix of its own, on the shared
 * test Redis or on `redisUrl` (a Redis the test started, or a proxy in front of one).
 */
export async function testEnv(kinesis: KinesisClient, name: string, shards: number, redisUrl?: string): Promise<Env> {
  const r = redisUrl === undefined ? await testRedis(`worker-${name}`) : await redisAt(redisUrl, name);
  const stream = `cairn-test-${name}-${randomBytes(4).toString('hex')}`;
  await ensureStream(kinesis, stream, shards);
  const workers: Worker[] = [];
  const env: Env = {
    redis: r.redis,
    keys: r.keys,
    kinesis,
    stream,
    workers,
    async start(extra = {}) {
      const w = await startWorker({ redis: r.redis, keys: r.keys, kinesis, stream, pollMs: 20, ...extra });
      workers.push(w);
      return w;
    },
    put: (records, seed = 1) => putRecords(kinesis, stream, records, seed),
    async cleanup() {
      await Promise.all(workers.map((w) => w.stop()));
      await r.cleanup();
    },
  };
  return env;
}

async function redisAt(url: string, name: string): Promise<Awaited<ReturnType<typeof testRedis>>> {
  const redis = await connectRedis(url);
  const prefix = uniquePrefix(`worker-${name}`);
  return {
    redis,
    prefix,
    keys: new RedisKeys(prefix),
    async cleanup() {
      await deletePrefix(redis, prefix).catch(() => {});
      redis.disconnect();
    },
  };
}

/** Puts records in the order given, each under a random partition key (so they scatter over the shards). */
export async function putRecords(kinesis: KinesisClient, stream: string, records: (EventRecord | Buffer)[], seed: number): Promise<void> {
  let n = seed;
  const entries = records.map((r) => ({ Data: Buffer.isBuffer(r) ? r : encodeRecord(r), PartitionKey: `pk-${seed}-${n++}-${randomBytes(3).toString('hex')}` }));
  for (let i = 0; i < entries.length; i += 500) {
    let batch = entries.slice(i, i + 500);
    for (let attempt = 0; batch.length; attempt++) {
      if (attempt > 20) throw new Error('PutRecords keeps failing');
      const res = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: batch }));
      batch = batch.filter((_, j) => res.Records?.[j]?.ErrorCode);
    }
  }
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs` saying what it waited for. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(25);
  }
}

export async function registerServers(redis: Redis, keys: RedisKeys, servers: Record<string, number>): Promise<void> {
  await redis.hset(keys.servers(), servers);
}

export async function readStream(redis: Redis, keys: RedisKeys, server: string): Promise<PrizeStreamEntry[]> {
  const raw = await redis.xrange(keys.prizeStream(server), '-', '+');
  return raw.map(([id, fields]) => parsePrizeStreamEntry(id, fields)).filter((e): e is PrizeStreamEntry => e !== undefined);
}

/** The hunt's closed-through time, or undefined. */
/** How far the hunt's windows are closed and fanned out to the servers' prize streams (undefined: none yet). */
export async function closedThrough(redis: Redis, keys: RedisKeys, hunt: string): Promise<number | undefined> {
  // A window is committed first, then fanned out (worker/window-fan-out.ts): it counts once both are done.
  const [v, waiting] = await Promise.all([redis.get(keys.closed(hunt)), redis.zrange(keys.fanOut(hunt), '0', '0', 'WITHSCORES')]);
  if (waiting[1] !== undefined) {
    const closed = Number(waiting[0] && JSON.parse(waiting[0])[0]);
    return Number.isFinite(closed) && closed > 0 ? closed : undefined;
  }
  return v === null ? undefined : Number(v);
}

/**
 * Waits until the hunt is closed through exactly `end` (the last window end the final
 * watermark allows: floor((finalWm - grace) / L) * L) with nothing pending, so no
 * further commit can follow.
 */
export async function waitClosedAt(redis: Redis, keys: RedisKeys, hunt: string, end: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `hunt ${hunt} closed through ${end}`,
    async () => (await closedThrough(redis, keys, hunt)) === end && (await redis.zcard(keys.pending(hunt))) === 0,
    timeoutMs,
  );
}

/** The `closed` a hunt with window length `window` reaches once every watermark is at `finalWm`. */
export function finalClosed(window: string, finalWm: number, graceMs = 0): number {
  const L = parseDuration(window);
  return Math.floor((finalWm - graceMs) / L) * L;
}
