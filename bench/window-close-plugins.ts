/**
 * The 23 game servers of the window-close benchmark: a real plugin per server, each with a
 * data folder of its own, all in the benchmark's process beside the gateway. Each records,
 * per prize, the time from its stream entry id (the Redis time of the fan-out that appended
 * it) to its arrival at the plugin's link and to its grant (the plugin's 'prize' event:
 * given through the host and fsync'd in the ledger), on this machine's clock.
 *
 * Tried and left: each plugin in a process of its own, as a deployment runs them. On the
 * benchmark's machine of two cores that measured worse, not fairer: grant p99 195-225 ms
 * where the plugins in this process gave 87-135 ms (load average 5-9), because the 23
 * processes spent 180-540 ms of CPU on the window that the 23 plugins in one process
 * handle in about 125 ms (each process compiles the prize path and collects its garbage on
 * its own), and each waits for the scheduler. A deployment gives each game server cores of
 * its own, which no arrangement on two cores reproduces.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnPlugin } from '../plugin/cairn-plugin.js';
import type { Host } from '../plugin/host.js';
import type { HuntRules } from '../protocol/index.js';

/** ms from a delivery id ("1764331200000-0") to now. */
const sinceEntry = (id: string): number => Date.now() - Number(id.slice(0, id.indexOf('-')));

function benchHost(serverId: string): Host {
  return { serverId, now: () => Date.now(), isOnline: () => true, hasPermission: () => false, giveItem: () => true, tell: () => {} };
}

export class BenchPlugins {
  private plugins: CairnPlugin[] = [];
  private dirs: string[] = [];
  /** ms from stream entry to arrival at the link, and to grant, since the last collect */
  private readonly arrived: number[] = [];
  private readonly granted: number[] = [];
  private waiter: { n: number; resolve(): void } | undefined;

  /** Starts one plugin per server id against the gateway at `url`; resolves once every one is welcomed. */
  async start(url: string, token: string, servers: string[], hunt: HuntRules): Promise<void> {
    for (const server of servers) {
      const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-plugin-'));
      this.dirs.push(dir);
      const p = await CairnPlugin.start({ host: benchHost(server), hunts: [hunt], dataDir: dir, gatewayUrl: url, token, heartbeatMs: 60_000 });
      // Arrival at the plugin's link (before its ledger append and fsync): the plugin keeps
      // its link private, so this reaches in; the figure is skipped if that changes.
      const link = (p as unknown as { p?: { link?: { on?: (ev: string, fn: (x: { id: string }) => void) => void } } }).p?.link;
      link?.on?.('prize', (x) => this.arrived.push(sinceEntry(x.id)));
      p.on('prize', (x: { id: string }) => {
        this.granted.push(sinceEntry(x.id));
        if (this.waiter && this.granted.length >= this.waiter.n) {
          this.waiter.resolve();
          this.waiter = undefined;
        }
      });
      this.plugins.push(p);
    }
  }

  /** Resolves once `n` prizes are granted since start or the last collect (rejects after `timeoutMs`). */
  grants(n: number, timeoutMs: number): Promise<void> {
    if (this.granted.length >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.granted.length} of ${n} prizes granted after ${timeoutMs / 1000} s`)), timeoutMs);
      this.waiter = {
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }

  /** The latencies since start or the last collect, and forgets them. */
  collect(): { arrived: number[]; granted: number[] } {
    return { arrived: this.arrived.splice(0), granted: this.granted.splice(0) };
  }

  /** Stops the plugins and removes their data folders. */
  async stop(): Promise<void> {
    await Promise.all(this.plugins.map((p) => p.stop(1000).catch(() => {})));
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.plugins = [];
    this.dirs = [];
    this.arrived.length = 0;
    this.granted.length = 0;
  }
}
