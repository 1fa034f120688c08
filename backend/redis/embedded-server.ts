/**
 * A redis-server started for the run when none answers (the embedded default for
 * `npm start`, replay and tests): no persistence, its own temporary folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError, ErrorCode } from '../../protocol/index.js';
import { logger } from '../../common/log.js';
import { sleep } from '../../common/async.js';
import { redisAnswers } from './connect.js';

const log = logger('redis');

/** A TCP port free on 127.0.0.1 right now (another process may take it before we listen). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

export interface RedisServerHandle {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `redis-server` on a free port with no persistence; stop() kills it and removes its folder. */
export async function startRedisServer(extraArgs: string[] = []): Promise<RedisServerHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cairn-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(new CairnError(ErrorCode.RedisUnavailable, `cannot start redis-server (${(err as NodeJS.ErrnoException).code}): install Redis 7 (e.g. 'apt install redis-server' or 'brew install redis') or set CAIRN_REDIS_URL`)),
    );
  });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await Promise.race([redisAnswers(url, 300), spawnError]);
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new CairnError(ErrorCode.RedisUnavailable, `redis-server on port ${port} did not start (exit code ${child.exitCode})`);
    }
    await sleep(50);
  }
  return {
    url,
    port,
    process: child,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The Redis for this run: `url` if it answers; otherwise, when `embedded` is allowed and
 * redis-server is on PATH, one started for the run. `stop` is a no-op for an external Redis.
 */
export async function resolveRedis(url: string, embedded: boolean): Promise<{ url: string; embedded: boolean; stop(): Promise<void> }> {
  if (await redisAnswers(url)) return { url, embedded: false, stop: async () => {} };
  if (!embedded) throw new CairnError(ErrorCode.RedisUnavailable, `Redis does not answer at ${url}; start it or set CAIRN_REDIS_URL`);
  log.warn({ url }, 'Redis does not answer; starting redis-server for this run (no persistence)');
  const h = await startRedisServer();
  log.info({ url: h.url }, 'embedded redis-server started');
  return { url: h.url, embedded: true, stop: () => h.stop() };
}
