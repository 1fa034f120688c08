/**
 * A redis-server of the test's own, with persistence on (appendonly yes, appendfsync
 * everysec: the settings operators are told to use), on a free port, that the test can
 * kill -9 and start again on the same port and data folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisAnswers } from '../../../backend/redis/connect.js';
import { freePort } from '../../../backend/redis/embedded-server.js';

export interface OwnRedis {
  url: string;
  port: number;
  /** SIGKILL: no shutdown, no final fsync; what was written to the AOF file is what survives. */
  kill9(): Promise<void>;
  /** SIGSTOP, at once: commands sent from now on wait unexecuted in its socket buffers. */
  freeze(): void;
  /** Starts it again on the same port and folder (it loads the AOF). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cairn-test-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 10_000;
    while (!(await redisAnswers(url, 300))) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on ${port} did not start (exit ${proc.exitCode})`);
      await new Promise((r) => setTimeout(r, 30));
    }
  };
  const kill = async (signal: NodeJS.Signals) => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    p.kill(signal);
    await exited;
  };
  await start();
  return {
    url,
    port,
    kill9: () => kill('SIGKILL'),
    freeze: () => void proc?.kill('SIGSTOP'),
    restart: start,
    async stop() {
      await kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
