/**
 * Network chaos: a 200-player trace replayed with a fault proxy (test/support/fault-proxy.ts)
 * on each of the three links Cairn depends on, faults turned on and off in turn on all
 * three at once (latency, bandwidth cap, black hole, reset mid-frame, half-open):
 *   plugin  <-proxy->  gateway  <-proxy->  Kinesis (kinesalite, HTTP)
 *                      worker   <-proxy->  Redis
 * The gateway's own Redis connection and the worker's Kinesis client are direct.
 * Expected: exactly the prizes of the in-process fold (the oracle), no discrete event
 * lost (every event number of every plugin epoch is in the stream), and no prize given
 * twice in game (each replay host's record of what it gave).
 */
import { Agent } from 'node:http';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { connectRedis } from '../../backend/redis/connect.js';
import { RedisKeys } from '../../backend/redis/keys.js';
import { ensureStream, makeKinesisClient, startKinesalite } from '../../backend/kinesis/client.js';
import { startGateway, type Gateway } from '../../gateway/server.js';
import { startWorker, type Worker } from '../../worker/worker.js';
import { replay } from '../../cli/replay.js';
import type { ReplayHost } from '../../plugin/hosts/replay-host.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';
import { prizeKeys, referencePrizes } from '../support/trace-builder.js';
import { startChaos, FAULTS, type ChaosRuns } from './support/chaos.js';
import { CROWD_HUNT, crowdTrace } from './support/crowd-trace.js';
import { givenInGame } from './support/grants.js';
import { discreteEventsInStream } from './support/stream-events.js';

const TOKEN = 'chaos-token';
const STREAM = 'cairn-chaos';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('network chaos on every link during a 200-player replay', () => {
  it('exactly the oracle prizes, 0 discrete events lost, 0 prizes given twice in game', async () => {
    const trace = crowdTrace(200, 60);
    const expected = referencePrizes([CROWD_HUNT], trace.lines);
    const traceFile = trace.writeTo();

    const kinesalite = await startKinesalite();
    cleanups.push(() => kinesalite.stop());
    const kinesisDirect = makeKinesisClient(kinesalite.endpoint);
    cleanups.push(() => kinesisDirect.destroy());
    await ensureStream(kinesisDirect, STREAM, 2);
    const kinesisUrl = new URL(kinesalite.endpoint);
    const redisUrl = new URL(TEST_REDIS_URL);
    const proxies: Record<'plugin-gateway' | 'gateway-kinesis' | 'worker-redis', FaultProxy> = {
      'plugin-gateway': undefined!,
      'gateway-kinesis': await startFaultProxy({ host: kinesisUrl.hostname, port: Number(kinesisUrl.port) }),
      'worker-redis': await startFaultProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) }),
    };
    cleanups.push(() => proxies['gateway-kinesis'].close(), () => proxies['worker-redis'].close());

    const prefix = uniquePrefix('chaos');
    const keys = new RedisKeys(prefix);
    const gatewayRedis = await connectRedis(TEST_REDIS_URL);
    cleanups.push(async () => {
      await deletePrefix(gatewayRedis, prefix);
      gatewayRedis.disconnect();
    });
    // The SDK waits up to requestTimeout for an answer on a half-open connection (30 s in
    // backend/kinesis/client.ts); 2 s keeps the test short, and a timed-out put is retried.
    const kinesisViaProxy = new KinesisClient({
      region: 'us-east-1',
      endpoint: `http://${proxies['gateway-kinesis'].address}`,
      credentials: { accessKeyId: 'cairn-local', secretAccessKey: 'cairn-local' },
      requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 16 }), requestTimeout: 2_000, throwOnRequestTimeout: true, connectionTimeout: 1_000 }),
    });
    cleanups.push(() => kinesisViaProxy.destroy());
    const gateway: Gateway = await startGateway({
      port: 0, token: TOKEN, redis: gatewayRedis, keys, kinesis: kinesisViaProxy, stream: STREAM, registry: new Registry(), shardCount: 2,
      pingIntervalMs: 1_000, putMaxDelayMs: 500,
    });
    cleanups.push(() => gateway.close());
    proxies['plugin-gateway'] = await startFaultProxy({ host: '127.0.0.1', port: gateway.port });
    cleanups.push(() => proxies['plugin-gateway'].close());

    // socketTimeout 2 s (10 s by default) so a half-open Redis connection is noticed soon.
    const workerRedis: Redis = await connectRedis(`redis://${proxies['worker-redis'].address}`, { socketTimeout: 2_000 });
    cleanups.push(() => workerRedis.disconnect());
    const worker: Worker = await startWorker({ redis: workerRedis, keys, kinesis: kinesisDirect, stream: STREAM, graceMs: 0, pollMs: 20, registry: new Registry() });
    cleanups.push(() => worker.stop());

    const chaos = startChaos(
      [
        { name: 'plugin-gateway', proxy: proxies['plugin-gateway'], resetDirs: ['up', 'down'] },
        { name: 'gateway-kinesis', proxy: proxies['gateway-kinesis'], resetDirs: ['up', 'down'] },
        { name: 'worker-redis', proxy: proxies['worker-redis'], resetDirs: ['down', 'up'] },
      ],
      { holdMs: 500, gapMs: 600 },
    );
    let runs: ChaosRuns | undefined;
    const hosts: ReplayHost[] = [];
    let result;
    try {
      result = await replay({
        hunts: [CROWD_HUNT],
        traceFile,
        gatewayUrl: `ws://${proxies['plugin-gateway'].address}`,
        token: TOKEN,
        graceMs: 0,
        windowTimeoutMs: 60_000,
        link: { pingIntervalMs: 1_000, backoffBaseMs: 50, backoffCapMs: 500, welcomeTimeoutMs: 2_000 },
        onHost: (h) => hosts.push(h),
      });
    } finally {
      runs = await chaos.stop();
      process.stderr.write(`chaos runs per link: ${JSON.stringify(runs)}\n`);
    }

    // Prizes: exactly the oracle's.
    expect(expected.length).toBeGreaterThan(200);
    expect(prizeKeys(result.prizes)).toEqual(expected);
    // In game: every granted prize given once.
    const g = givenInGame(hosts, result);
    expect({ twice: g.twice, missing: g.missing, extra: g.extra }).toEqual({ twice: [], missing: [], extra: [] });
    expect(g.given + result.stats.prizesPending).toBe(expected.length);
    // Discrete events: every event number of every plugin epoch reached the stream.
    const inStream = await discreteEventsInStream(kinesisDirect, STREAM);
    let total = 0;
    for (const h of hosts) {
      const epochs = inStream.get(h.serverId);
      expect(epochs?.size, `${h.serverId}: one epoch`).toBe(1);
      const ns = [...epochs!.values()][0]!;
      const max = Math.max(...ns);
      expect(ns.size, `${h.serverId}: event numbers 1..${max} without a gap`).toBe(max);
      total += ns.size;
    }
    expect(total).toBe(result.stats.eventsSent);
    process.stderr.write(`chaos replay: ${expected.length} prizes (${g.given} given, ${result.stats.prizesPending} pending), ${total} discrete events, ${result.stats.durationMs} ms\n`);
    // Every fault really happened on every link.
    for (const [link, byFault] of Object.entries(runs)) for (const f of FAULTS) expect(byFault[f], `${link} ${f}`).toBeGreaterThan(0);
  }, 120_000);
});
