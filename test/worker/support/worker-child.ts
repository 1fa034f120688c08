/**
 * A worker in a process of its own (./worker-process.ts), so a test can SIGKILL, SIGSTOP
 * and SIGCONT it. Its stdout lines are collected: `ready <id>`, `stats <json>`, and with
 * commit hooks on, `pausing <hunt> <start> <end>` and `commit <status> <hunt> <start> <newPrizes>`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { TEST_REDIS_URL } from '../../support/redis.js';
import type { Env } from './harness.js';

export interface WorkerChild {
  id: string;
  proc: ChildProcess;
  /** every stdout line so far */
  lines: string[];
  /** commit hooks only: the next commit attempt stops the process (SIGSTOP) right before its commit is sent */
  arm(): void;
  /** resolves with the stats it printed on SIGTERM */
  stats(): Promise<Record<string, number>>;
  kill(): Promise<void>;
}

const children = new Set<ChildProcess>();

/** Kills every child still running (for afterEach). */
export async function killWorkerChildren(): Promise<void> {
  for (const c of [...children]) {
    children.delete(c);
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
}

export async function spawnWorker(e: Pick<Env, 'keys' | 'stream'>, kinesisEndpoint: string, id: string, opts: { leaseMs: number; commitHooks?: boolean; env?: Record<string, string> }): Promise<WorkerChild> {
  const file = new URL('./worker-process.ts', import.meta.url).pathname;
  const proc = spawn(process.execPath, ['--import', 'tsx', file], {
    env: {
      ...process.env,
      CAIRN_TEST_REDIS_URL: TEST_REDIS_URL,
      CAIRN_TEST_KINESIS_ENDPOINT: kinesisEndpoint,
      CAIRN_TEST_PREFIX: e.keys.prefix,
      CAIRN_TEST_STREAM: e.stream,
      CAIRN_TEST_WORKER_ID: id,
      CAIRN_TEST_LEASE_MS: String(opts.leaseMs),
      ...(opts.commitHooks ? { CAIRN_TEST_COMMIT_HOOKS: '1' } : {}),
      ...opts.env,
    },
    stdio: [opts.commitHooks ? 'pipe' : 'ignore', 'pipe', 'inherit'],
  });
  children.add(proc);
  const lines: string[] = [];
  let statsLine: ((s: string) => void) | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`worker process ${id} exited with ${code} before it was ready`)));
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      lines.push(l);
      if (l.startsWith('ready ')) resolve();
      if (l.startsWith('stats ')) statsLine?.(l.slice(6));
    });
  });
  await ready;
  return {
    id,
    proc,
    lines,
    arm() {
      proc.stdin!.write('arm\n');
    },
    async stats() {
      const got = new Promise<string>((resolve) => (statsLine = resolve));
      proc.kill('SIGTERM');
      return JSON.parse(await got) as Record<string, number>;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    },
  };
}
