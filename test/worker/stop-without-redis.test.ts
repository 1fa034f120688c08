/**
 * Stopping a worker whatever is down: `cairn worker` in a process of its own, sent
 * SIGTERM after the Redis it uses (a redis-server this test started) was killed, and
 * after Kinesis went too. It must exit within 10 s and log what it could not release,
 * where it used to retry for minutes. With everything up, the same stop gives every
 * lease back and reports nothing abandoned.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { connectRedis } from '../../backend/redis/connect.js';
import { ensureStream } from '../../backend/kinesis/client.js';
import { startKinesis, type Kinesis } from '../support/kinesis.js';
import { waitFor } from './support/harness.js';
import { startOwnRedis, type OwnRedis } from './support/redis-process.js';

const BIN = new URL('../../bin/cairn.js', import.meta.url).pathname;

interface Running {
  proc: ChildProcess;
  /** JSON log lines (pino, on stderr) */
  logs: Record<string, unknown>[];
  prefix: string;
}

let kinesis: Kinesis | undefined;
let redis: OwnRedis | undefined;
let client: Redis | undefined;
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  client?.disconnect();
  await redis?.stop();
  await kinesis?.stop();
  child = client = redis = kinesis = undefined;
});

async function startWorkerProcess(): Promise<Running> {
  kinesis = await startKinesis();
  redis = await startOwnRedis();
  client = await connectRedis(redis.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  const stream = `cairn-test-stop-${randomBytes(4).toString('hex')}`;
  await ensureStream(kinesis.client, stream, 2);
  const prefix = `cairn-test:stop:${randomBytes(4).toString('hex')}`;
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_')));
  Object.assign(env, {
    CAIRN_REDIS_URL: redis.url,
    CAIRN_REDIS_PREFIX: prefix,
    CAIRN_KINESIS_ENDPOINT: kinesis.endpoint,
    CAIRN_KINESIS_STREAM: stream,
    CAIRN_KINESIS_SHARDS: '2',
    CAIRN_LOG_LEVEL: 'info',
  });
  const proc = spawn(process.execPath, [BIN, 'worker', '--poll-ms', '50'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child = proc;
  const logs: Record<string, unknown>[] = [];
  let reading!: () => void;
  const ready = new Promise<void>((resolve) => (reading = resolve));
  createInterface({ input: proc.stderr! }).on('line', (l) => {
    if (l.startsWith('{')) logs.push(JSON.parse(l) as Record<string, unknown>);
    else if (l.startsWith('cairn worker reading')) reading();
  });
  await ready;
  const c = client;
  await waitFor('both shard leases held', async () => (await c.keys(`${prefix}:lease:*`)).length === 2);
  return { proc, logs, prefix };
}

/** SIGTERM, then how long the process took to exit and its exit code. */
async function terminate(proc: ChildProcess): Promise<{ ms: number; code: number | null }> {
  const started = performance.now();
  const exited = once(proc, 'exit') as Promise<[number | null, string | null]>;
  proc.kill('SIGTERM');
  const [code] = await exited;
  const ms = performance.now() - started;
  return { ms, code };
}

const messages = (logs: Record<string, unknown>[]) => logs.map((l) => String(l.msg));
const stoppedLine = (logs: Record<string, unknown>[]) => logs.find((l) => l.msg === 'worker stopped');

describe('stopping a worker', () => {
  it('with everything up: every lease is given back, nothing is reported abandoned', async () => {
    const w = await startWorkerProcess();
    const { code } = await terminate(w.proc);
    expect(code).toBe(0);
    expect(await client!.keys(`${w.prefix}:lease:*`)).toEqual([]);
    expect(stoppedLine(w.logs)).toMatchObject({ clean: true });
    expect(messages(w.logs).filter((m) => m.startsWith('could not'))).toEqual([]);
  });

  it('with Redis killed: exits within 10 s, naming the leases it could not give back', async () => {
    const w = await startWorkerProcess();
    await redis!.kill9();
    const { ms, code } = await terminate(w.proc);
    expect(ms).toBeLessThan(10_000);
    expect(code).toBe(0);
    const unreleased = w.logs.find((l) => String(l.msg).startsWith('could not give these shard leases back'));
    expect(unreleased?.shards).toEqual(['shardId-000000000000', 'shardId-000000000001']);
    expect(messages(w.logs)).toContain('could not leave the live workers set before the stop deadline: others count this worker until its heartbeat expires (leaseMs)');
    expect(stoppedLine(w.logs)).toMatchObject({ clean: false });
  });

  it('with Redis and Kinesis both gone: exits within 10 s, naming what it could not release', async () => {
    const w = await startWorkerProcess();
    await redis!.kill9();
    await kinesis!.stop();
    kinesis = undefined;
    const { ms, code } = await terminate(w.proc);
    expect(ms).toBeLessThan(10_000);
    expect(code).toBe(0);
    expect(messages(w.logs).some((m) => m.startsWith('could not give these shard leases back'))).toBe(true);
    expect(stoppedLine(w.logs)).toMatchObject({ clean: false });
  });
});
