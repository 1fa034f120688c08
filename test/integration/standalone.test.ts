/**
 * `cairn gateway` and two `cairn worker` processes against one Redis and one Kinesis
 * API, driven by `cairn replay --gateway`: the same prizes as expected.json, each
 * decided once (no prize twice on any server's stream), and a wrong token refused.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKinesalite } from '../../backend/kinesis/client.js';
import { freePort } from '../../backend/redis/embedded-server.js';
import { RedisKeys } from '../../backend/redis/keys.js';
import { parsePrizeStreamEntry } from '../../backend/prize-stream.js';
import { testRedis } from '../support/redis.js';
import { prizeKeys } from '../support/trace-builder.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/cairn.js', import.meta.url).pathname;
const DIR = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;
const EXPECTED = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8'));

function waitForOutput(child: ChildProcess, pattern: RegExp, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${ms} ms; output:\n${seen}`)), ms);
    child.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before ${pattern}; output:\n${seen}`)));
  });
}

describe('standalone gateway and two workers', () => {
  const procs: ChildProcess[] = [];
  let env: NodeJS.ProcessEnv;
  let port: number;
  let kinesis: Awaited<ReturnType<typeof startKinesalite>>;
  let redis: Awaited<ReturnType<typeof testRedis>>;

  beforeAll(async () => {
    kinesis = await startKinesalite();
    redis = await testRedis('standalone');
    port = await freePort();
    env = {
      ...process.env,
      CAIRN_REDIS_URL: process.env.CAIRN_TEST_REDIS_URL,
      CAIRN_REDIS_PREFIX: redis.prefix,
      CAIRN_KINESIS_ENDPOINT: kinesis.endpoint,
      CAIRN_KINESIS_STREAM: `cairn-standalone-${randomBytes(3).toString('hex')}`,
      CAIRN_GATEWAY_PORT: String(port),
      CAIRN_TOKEN: 'standalone-secret',
      CAIRN_LOG_LEVEL: 'warn',
    };
    const gateway = spawn('node', [BIN, 'gateway'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(gateway);
    await waitForOutput(gateway, /gateway listening/);
    for (let i = 0; i < 2; i++) {
      const w = spawn('node', [BIN, 'worker', '--poll-ms', '20'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      procs.push(w);
      await waitForOutput(w, /worker reading/);
    }
  });

  afterAll(async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGTERM');
          }),
      ),
    );
    await redis?.cleanup();
    await kinesis?.stop();
  });

  it('replays the fixture to exactly the expected prizes, each decided once', async () => {
    const { stdout } = await run('node', [BIN, 'replay', '--rules', `${DIR}rules.json`, '--trace', `${DIR}trace.ndjson`, '--json', '--gateway', `ws://127.0.0.1:${port}`], {
      env,
      timeout: 120_000,
      maxBuffer: 16 << 20,
    });
    const out = JSON.parse(stdout);
    expect(prizeKeys(out.prizes)).toEqual(EXPECTED);

    const keys = new RedisKeys(redis.prefix);
    const seen = new Map<string, number>();
    for (const server of ['srv-a', 'srv-b']) {
      const entries = (await redis.redis.xrange(keys.prizeStream(server), '-', '+')) as [string, string[]][];
      for (const [id, fields] of entries) {
        const e = parsePrizeStreamEntry(id, fields);
        if (e?.kind === 'prize') seen.set(`${e.hunt}|${e.reason}`, (seen.get(`${e.hunt}|${e.reason}`) ?? 0) + 1);
      }
    }
    expect(seen.size).toBe(EXPECTED.length);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  it('refuses a game server with the wrong token', async () => {
    const r = await run('node', [BIN, 'replay', '--rules', `${DIR}rules.json`, '--trace', `${DIR}trace.ndjson`, '--json', '--gateway', `ws://127.0.0.1:${port}`], {
      env: { ...env, CAIRN_TOKEN: 'wrong' },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CAIRN_ERR_AUTH_FAILED|token/);
  });
});
