/**
 * A gateway for one test: real Redis with its own prefix, a fresh stream on the file's
 * kinesalite, port 0; `stop()` closes everything the test opened.
 */
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { RedisKeys } from '../../backend/redis/keys.js';
import { startGateway, type Gateway, type GatewayOptions } from '../../gateway/server.js';
import { testRedis } from '../support/redis.js';
import type { Kinesis } from '../support/kinesis.js';
import { newStream, TOKEN, type TestClient } from './support.js';

export interface Harness {
  gw: Gateway;
  /** the file's kinesalite the gateway writes to */
  kinesis: Kinesis;
  redis: Redis;
  keys: RedisKeys;
  stream: string;
  registry: Registry;
  clients: TestClient[];
  /** Another gateway on the same Redis and stream (as a second instance behind a load balancer). */
  second(extra?: Partial<GatewayOptions>): Promise<Gateway>;
  stop(): Promise<void>;
}

export async function startHarness(kinesis: Kinesis, extra: Partial<GatewayOptions> = {}, shards = 2): Promise<Harness> {
  const r = await testRedis('gw');
  const stream = await newStream(kinesis.client, shards);
  const registry = new Registry();
  const base: GatewayOptions = {
    port: 0,
    host: '127.0.0.1',
    token: TOKEN,
    redis: r.redis,
    keys: r.keys,
    kinesis: kinesis.client,
    stream,
    registry,
    deliveryBlockMs: 200,
    putBaseDelayMs: 5,
    putMaxDelayMs: 50,
  };
  const gw = await startGateway({ ...base, ...extra });
  const others: Gateway[] = [];
  const clients: TestClient[] = [];
  return {
    gw,
    kinesis,
    redis: r.redis,
    keys: r.keys,
    stream,
    registry,
    clients,
    async second(more = {}) {
      const g = await startGateway({ ...base, registry: new Registry(), ...extra, ...more });
      others.push(g);
      return g;
    },
    async stop() {
      for (const c of clients) c.close();
      await Promise.all([gw.close(), ...others.map((g) => g.close())]);
      await r.cleanup();
    },
  };
}
