/**
 * A Redis primary, one replica and three Sentinels as real processes on loopback, for
 * the failover tests. Persistence as operators are told to run it (AOF, everysec). The
 * replica may replicate through a proxy (`replicateVia`), so a test can hold back the
 * replication stream and have the replica promoted without the last acknowledged writes.
 *
 * Timings (quorum 2, down-after 1000 ms, failover-timeout 5000): forming takes about 6 s
 * (10 s under load), a promotion 2.2-2.4 s after a SIGKILL of the primary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisAnswers } from '../../backend/redis/connect.js';
import { freePort } from '../../backend/redis/embedded-server.js';

export const MASTER_NAME = 'cairn-primary';

export interface SentinelSetup {
  primaryPort: number;
  replicaPort: number;
  sentinels: { host: string; port: number }[];
  /** CAIRN_REDIS_SENTINELS for this setup */
  sentinelList: string;
  /** SIGKILL of the primary; resolves when it has exited. */
  killPrimary(): Promise<void>;
  /** Resolves when every Sentinel names `port` as the primary. */
  waitPrimary(port: number, timeoutMs?: number): Promise<void>;
  /** The port every Sentinel names as primary now (undefined while they disagree). */
  primaryNow(): Promise<number | undefined>;
  stop(): Promise<void>;
}

function spawnRedis(args: string[]): ChildProcess {
  return spawn('redis-server', args, { stdio: 'ignore' });
}

async function waitAnswers(port: number, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(`redis://127.0.0.1:${port}`, 300))) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis on ${port} did not start (exit ${proc.exitCode})`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

const sentinelClient = (port: number) => new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });

async function masterInfo(port: number): Promise<Record<string, string> | undefined> {
  const c = sentinelClient(port);
  c.on('error', () => {});
  try {
    await c.connect();
    const flat = (await c.call('SENTINEL', 'MASTER', MASTER_NAME)) as string[];
    const info: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) info[flat[i]!] = flat[i + 1]!;
    return info;
  } catch {
    return undefined;
  } finally {
    c.disconnect();
  }
}

/**
 * Starts the five processes and resolves once every Sentinel names the primary and sees
 * the replica and the two other Sentinels, and the replica has finished its first sync. `replicateVia(primaryPort)` returns the port
 * the replica should replicate from (a proxy in front of the primary); default: direct.
 * A Sentinel "fixes" a replica that replicates from an address other than the primary's
 * (+fix-slave-config) once failover-timeout has passed since it found the replica: with
 * a proxy, give a failover timeout longer than the test.
 */
export async function startSentinelSetup(opts: { replicateVia?: (primaryPort: number) => Promise<number>; failoverTimeoutMs?: number } = {}): Promise<SentinelSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-sentinel-'));
  const procs: ChildProcess[] = [];
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const node = (port: number, extra: string[]) => {
    const d = join(dir, String(port));
    mkdirSync(d);
    const p = spawnRedis(['--port', String(port), '--bind', '127.0.0.1', '--dir', d, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', ...extra]);
    procs.push(p);
    return p;
  };
  try {
    const primary = node(primaryPort, []);
    await waitAnswers(primaryPort, primary);
    const from = opts.replicateVia ? await opts.replicateVia(primaryPort) : primaryPort;
    const replica = node(replicaPort, ['--replicaof', '127.0.0.1', String(from)]);
    await waitAnswers(replicaPort, replica);
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      // Each Sentinel rewrites its own config file: one file each.
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} ${opts.failoverTimeoutMs ?? 5000}`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      const p = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
      procs.push(p);
      sentinelPorts.push(port);
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      const infos = await Promise.all(sentinelPorts.map(masterInfo));
      const formed = infos.every((m) => m && m.port === String(primaryPort) && m['num-slaves'] === '1' && m['num-other-sentinels'] === '2');
      if (formed) break;
      if (Date.now() > deadline) throw new Error(`sentinels did not form within 30 s: ${JSON.stringify(infos)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // Sentinels list a replica as soon as it connects, before its first sync is done; a
    // test that holds replication back must not catch it with nothing copied yet.
    const replicaClient = sentinelClient(replicaPort);
    replicaClient.on('error', () => {});
    try {
      await replicaClient.connect();
      while (!/master_link_status:up/.test(await replicaClient.info('replication'))) {
        if (Date.now() > deadline) throw new Error('replica did not finish its first sync within 30 s');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      replicaClient.disconnect();
    }
    const sentinels = sentinelPorts.map((port) => ({ host: '127.0.0.1', port }));
    const primaryNow = async () => {
      const ports = new Set((await Promise.all(sentinelPorts.map(masterInfo))).map((m) => m?.port));
      return ports.size === 1 ? Number([...ports][0]) || undefined : undefined;
    };
    return {
      primaryPort,
      replicaPort,
      sentinels,
      sentinelList: sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      async killPrimary() {
        if (primary.exitCode !== null || primary.signalCode !== null) return;
        const exited = once(primary, 'exit');
        primary.kill('SIGKILL');
        await exited;
      },
      primaryNow,
      async waitPrimary(port, timeoutMs = 30_000) {
        const end = Date.now() + timeoutMs;
        while ((await primaryNow()) !== port) {
          if (Date.now() > end) throw new Error(`sentinels did not name ${port} as primary within ${timeoutMs} ms`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      async stop() {
        await stopAll(procs);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAll(procs);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function stopAll(procs: ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map(async (p) => {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = once(p, 'exit');
      p.kill('SIGKILL');
      await exited;
    }),
  );
}
