/**
 * The 23 game servers of the window-close benchmark, two ways:
 *
 *   own processes  each plugin in a process of its own (bench/window-close-game-server.ts),
 *                  as a deployment runs them: one game server per process, apart from the
 *                  gateway. What a server waits for is its own work and the gateway's (and,
 *                  on a machine of two cores, the scheduler's share of them).
 *   in process     all 23 plugins in the benchmark's process, beside the gateway: one event
 *                  loop, one heap and one libuv pool of 4 threads for all of them, so a
 *                  prize waits for every other server's decoding, ledger appends, garbage
 *                  collection and fsyncs too. The benchmark's first arrangement, kept for
 *                  comparison.
 *
 * Either way each server records, per prize, the time from its stream entry id to its
 * arrival at the plugin's link and to its grant (the plugin's 'prize' event).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnPlugin } from '../plugin/cairn-plugin.js';
import type { HuntRules } from '../protocol/index.js';
import { bundleChild } from '../test/support/child-bundle.js';
import { benchHost, watch, type FromGameServer, type ToGameServer } from './window-close-game-server.js';

/** The game servers of one measurement. */
export interface Fleet {
  readonly label: string;
  /** Starts one plugin per server id against the gateway at `url`; resolves once every one is welcomed. */
  start(url: string, token: string, servers: string[], hunt: HuntRules): Promise<void>;
  /** Resolves once `n` prizes are granted since start or the last collect (rejects after `timeoutMs`). */
  granted(n: number, timeoutMs: number): Promise<void>;
  /**
   * Per prize, ms from its stream entry to its arrival at the link and to its grant, and the
   * CPU time the plugins' processes used since the last collect (undefined in process);
   * forgets them, and the count.
   */
  collect(): Promise<{ arrived: number[]; granted: number[]; cpuMs?: number }>;
  /** Stops the plugins and removes their data folders. */
  stop(): Promise<void>;
  /** Ends what the fleet started for good. */
  close(): Promise<void>;
}

/** Counts grants and lets one waiter know when a count is reached. */
class GrantCount {
  total = 0;
  private waiter: { n: number; resolve(): void } | undefined;

  set(total: number): void {
    this.total = total;
    if (this.waiter && this.total >= this.waiter.n) {
      this.waiter.resolve();
      this.waiter = undefined;
    }
  }

  reach(n: number, timeoutMs: number): Promise<void> {
    if (this.total >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.total} of ${n} prizes granted after ${timeoutMs / 1000} s`)), timeoutMs);
      this.waiter = {
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }
}

export function inProcessFleet(): Fleet {
  let plugins: CairnPlugin[] = [];
  let dirs: string[] = [];
  const arrived: number[] = [];
  const granted: number[] = [];
  const count = new GrantCount();
  return {
    label: "all plugins in the gateway's process",
    async start(url, token, servers, hunt) {
      count.set(0);
      for (const server of servers) {
        const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-plugin-'));
        dirs.push(dir);
        const p = await CairnPlugin.start({ host: benchHost(server), hunts: [hunt], dataDir: dir, gatewayUrl: url, token, heartbeatMs: 60_000 });
        watch(p, arrived, granted, () => count.set(count.total + 1));
        plugins.push(p);
      }
    },
    granted: (n, timeoutMs) => count.reach(n, timeoutMs),
    async collect() {
      // The arrays themselves are the ones the plugins' listeners fill: empty them in place.
      const got = { arrived: arrived.splice(0), granted: granted.splice(0) };
      count.set(0);
      return got;
    },
    async stop() {
      await Promise.all(plugins.map((p) => p.stop(1000).catch(() => {})));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      plugins = [];
      dirs = [];
    },
    async close() {},
  };
}

/**
 * Game servers in `size` processes of their own (server i in process i % size), started
 * once and reused by every measurement. Started from a bundle (test/support/child-bundle.ts):
 * ~0.3 s of CPU each instead of ~2 s under tsx.
 */
export async function processFleet(size: number): Promise<Fleet> {
  const entry = await bundleChild(new URL('./window-close-game-server.ts', import.meta.url).pathname);
  const children: ChildProcess[] = [];
  const totals: number[] = new Array<number>(size).fill(0);
  const count = new GrantCount();
  /** The next reply of child `i` (its progress reports go to the count instead). */
  const replies = new Map<number, Array<(m: FromGameServer) => void>>();
  const next = (i: number): Promise<FromGameServer> => new Promise((resolve) => replies.get(i)!.push(resolve));
  const ask = async (i: number, m: ToGameServer): Promise<FromGameServer> => {
    const reply = next(i);
    children[i]!.send(m);
    const got = await reply;
    if ('failed' in got) throw new Error(`game server process ${i}: ${got.failed}`);
    return got;
  };
  try {
    for (let i = 0; i < size; i++) {
      const child = spawn(process.execPath, [entry], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      replies.set(i, []);
      child.on('message', (m: FromGameServer) => {
        if ('granted' in m) {
          count.set(count.total - totals[i]! + m.granted);
          totals[i] = m.granted;
          return;
        }
        replies.get(i)!.shift()?.(m);
      });
      // Whoever waits on a process that died hears why.
      child.on('exit', (code, signal) => {
        for (const r of replies.get(i)!.splice(0)) r({ failed: `exited with ${code ?? signal}` });
      });
    }
    for (const [i, m] of (await Promise.all(children.map((_, i) => next(i)))).entries()) {
      if ('failed' in m) throw new Error(`game server process ${i}: ${m.failed}`);
    }
  } catch (err) {
    for (const c of children) c.kill();
    throw err;
  } finally {
    rmSync(entry, { force: true });
  }
  return {
    label: size === 1 ? 'the plugins in a process of their own' : 'each plugin in a process of its own',
    async start(url, token, servers, hunt) {
      totals.fill(0);
      count.set(0);
      await Promise.all(children.map((_, i) => ask(i, { start: { url, servers: servers.filter((_, k) => k % size === i), token, hunt } })));
    },
    granted: (n, timeoutMs) => count.reach(n, timeoutMs),
    async collect() {
      const got = await Promise.all(children.map((_, i) => ask(i, { collect: true })));
      totals.fill(0);
      count.set(0);
      const arrived: number[] = [];
      const granted: number[] = [];
      let cpuMs = 0;
      for (const g of got) {
        if (!('arrived' in g)) continue;
        arrived.push(...g.arrived);
        granted.push(...g.grantedMs);
        cpuMs += g.cpuMs;
      }
      return { arrived, granted, cpuMs };
    },
    async stop() {
      await Promise.all(children.map((_, i) => ask(i, { stop: true })));
    },
    async close() {
      await Promise.all(
        children.map(async (c) => {
          if (c.exitCode !== null) return;
          const exited = once(c, 'exit');
          c.disconnect();
          await exited;
        }),
      );
    },
  };
}
