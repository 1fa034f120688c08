/**
 * The example server's command as the README documents it, run as a process the way a
 * host runs it, then stopped by a signal: SIGTERM or SIGINT to the server's own process,
 * and SIGTERM to the npx in front of it (npm does not pass it down to the server). Each
 * time the server must stop cleanly, Cairn first, and close both its ports (Minecraft and
 * the gateway of the back end it runs), with nothing on the console that looks like a
 * warning.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectRedis } from '../../../backend/redis/connect.js';
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from '../../../test/support/redis.js';
import { documentedServeArgs, REPO_ROOT, SERVE_SCRIPT } from './documented-command.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** the server's own process, its Minecraft port and its gateway port, from its start line */
  pid: number;
  mcPort: number;
  gatewayPort: number;
}

async function startServe(command: string[]): Promise<Running> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-serve-'));
  const prefix = uniquePrefix('serve');
  cleanups.push(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    const redis = await connectRedis(TEST_REDIS_URL);
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });
  const [cmd, ...args] = [...command, '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir];
  const child = spawn(cmd!, args, {
    cwd: REPO_ROOT,
    // the environment of a host's shell: not the test runner's silencing of the AWS SDK
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined, CAIRN_REDIS_URL: TEST_REDIS_URL, CAIRN_REDIS_PREFIX: prefix, CAIRN_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m = /Minecraft \S+ on port (\d+); pid (\d+)/.exec(out);
    const g = /gateway ws:\/\/[^:]+:(\d+) \(in this process\)/.exec(out);
    if (m && g) {
      const pid = Number(m[2]);
      cleanups.push(() => {
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      });
      return { child, output: () => out, exited, pid, mcPort: Number(m[1]), gatewayPort: Number(g[1]) };
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the example server did not start (exit ${child.exitCode}):\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function waitGone(pid: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`server process ${pid} still running ${timeoutMs} ms after the signal`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function expectStoppedCleanly(r: Running): Promise<void> {
  await waitGone(r.pid);
  expect(await portOpen(r.mcPort)).toBe(false);
  expect(await portOpen(r.gatewayPort)).toBe(false);
  const out = r.output();
  expect(out).toMatch(/plugin stopped; nothing discrete was left unsent/);
  expect(out).toMatch(/gateway closed/);
  expect(out).not.toMatch(/NodeVersionSupportWarning|\(node:\d+\)|"level":(40|50|60)/);
}

const node = ['node', SERVE_SCRIPT];

describe('the example server stops on a signal, whichever process gets it', () => {
  it('SIGTERM to the server process: a clean stop, exit 0, both ports closed', async () => {
    const r = await startServe([...node, ...documentedServeArgs()]);
    expect(r.pid).toBe(r.child.pid);
    expect(await portOpen(r.mcPort)).toBe(true);
    expect(await portOpen(r.gatewayPort)).toBe(true);
    r.child.kill('SIGTERM');
    expect(await r.exited).toBe(0);
    await expectStoppedCleanly(r);
    expect(r.output()).toMatch(/SIGTERM: stopping/);
  });

  it('SIGINT (Ctrl-C) to the server process: the same', async () => {
    const r = await startServe([...node, ...documentedServeArgs()]);
    r.child.kill('SIGINT');
    expect(await r.exited).toBe(0);
    await expectStoppedCleanly(r);
    expect(r.output()).toMatch(/SIGINT: stopping/);
  });

  it('SIGTERM to npx in front of it (npx tsx serve.ts): the server stops too', async () => {
    const r = await startServe(['npx', 'tsx', 'hosts/flying-squid/serve.ts', ...documentedServeArgs()]);
    expect(r.pid).not.toBe(r.child.pid);
    r.child.kill('SIGTERM');
    await r.exited;
    await expectStoppedCleanly(r);
    expect(r.output()).toMatch(/launcher process \d+ ended: stopping/);
  });
});
