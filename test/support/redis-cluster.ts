/**
 * A real Redis Cluster of the test's own: 3 masters and 3 replicas, six redis-server
 * processes on loopback, made with `redis-cli --cluster create`. Ready means what a
 * failover test needs (measured, /work notes): every node sees 3 masters holding slots
 * and 3 connected replicas, which comes seconds after `cluster_state:ok`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

export interface TestCluster {
  /** CAIRN_REDIS_CLUSTER: every node, host:port,... */
  seeds: string;
  ports: number[];
  /** The node (port) that is master of the slot of `key` now. */
  masterOf(key: string): Promise<number>;
  /** `CLUSTER FAILOVER` on a replica of the master `port`; resolves once the roles have swapped. Returns the new master's port. */
  failover(masterPort: number): Promise<number>;
  /** Removes every key on every master. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** Redis refuses a cluster bus port (port + 10000) above 65535; the picker checks both are free. */
const MAX_PORT = 55_535;

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

async function pickPorts(n: number): Promise<number[]> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * (MAX_PORT - 20_000 - n));
    const ports = Array.from({ length: n }, (_, i) => base + i);
    let ok = true;
    for (const p of ports) if (!(await portFree(p)) || !(await portFree(p + 10_000))) ok = false;
    if (ok) return ports;
  }
  throw new Error(`no ${n} consecutive free ports below ${MAX_PORT} with port + 10000 free`);
}

const client = (port: number) => new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });

async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = client(port);
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // a node not answering yet
    }
    if (Date.now() > deadline) throw new Error(`redis cluster: ${what} not reached in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every node sees 3 masters with slots and 3 connected replicas, and cluster_state:ok. */
async function formed(ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const [info, nodes] = await ask(port, (r) => Promise.all([r.cluster('INFO') as Promise<string>, r.cluster('NODES') as Promise<string>]));
    if (!info.includes('cluster_state:ok')) return false;
    const lines = nodes.trim().split('\n').map((l) => l.split(' '));
    const masters = lines.filter((f) => f[2]!.includes('master') && !f[2]!.includes('fail') && f.length > 8).length;
    const replicas = lines.filter((f) => f[2]!.includes('slave') && !f[2]!.includes('fail') && f[7] === 'connected').length;
    if (masters !== 3 || replicas !== 3) return false;
  }
  return true;
}

export async function startTestCluster(): Promise<TestCluster> {
  const ports = await pickPorts(6);
  const dir = mkdtempSync(join(tmpdir(), 'cairn-test-cluster-'));
  const procs: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      procs.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const exited = once(p, 'exit');
        p.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const d = join(dir, String(port));
      mkdirSync(d);
      procs.push(
        spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', d, '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }),
      );
    }
    for (const port of ports) await waitFor(`node ${port} up`, async () => (await ask(port, (r) => r.ping())) === 'PONG', 10_000);
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes']);
    await waitFor('3 masters and 3 replicas seen by every node', () => formed(ports));
  } catch (err) {
    await stop();
    throw err;
  }

  const masterOf = async (key: string) => {
    const slot = (await ask(ports[0]!, (r) => r.cluster('KEYSLOT', key))) as number;
    const slots = await ask(ports[0]!, (r) => r.cluster('SLOTS'));
    const range = slots.find(([a, b]) => slot >= a && slot <= b);
    if (!range) throw new Error(`slot ${slot} of ${key} is not served`);
    return range[2]![1];
  };

  return {
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(','),
    ports,
    masterOf,
    async failover(masterPort) {
      const replicas = (await ask(masterPort, (r) => r.role())) as [string, number, [string, string, string][]];
      const replica = Number(replicas[2]?.[0]?.[1]);
      if (!replica) throw new Error(`master ${masterPort} has no replica`);
      await ask(replica, (r) => r.cluster('FAILOVER'));
      // Asynchronous: OK at once, roles swap some 100 ms later.
      await waitFor(`replica ${replica} promoted`, async () => ((await ask(replica, (r) => r.role())) as string[])[0] === 'master' && ((await ask(masterPort, (r) => r.role())) as string[])[0] === 'slave', 30_000);
      return replica;
    },
    async flush() {
      for (const port of ports) {
        const role = ((await ask(port, (r) => r.role())) as string[])[0];
        if (role === 'master') await ask(port, (r) => r.flushall());
      }
    },
    stop,
  };
}
