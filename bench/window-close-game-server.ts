/**
 * Game servers of the window-close benchmark in a process of their own, as a deployment runs
 * them: the plugins' event loop, heap and libuv thread pool (where the ledgers' fsyncs run)
 * are not the gateway's. Started and driven over IPC by bench/window-close-plugins.ts:
 *
 *   child  -> { ready }          loaded
 *   parent -> { start }          { url, servers, token, hunt }: a plugin per server, each
 *                                with a fresh data folder
 *   child  -> { started }        the gateway welcomed every one
 *   child  -> { granted: n }     prizes granted so far (once per turn with grants)
 *   parent -> { collect }        child -> { arrived, grantedMs, cpuMs }: the latencies since
 *                                the last collect, and the CPU time this process used from
 *                                the first arrival to the last grant; then forgets them
 *                                (and the count)
 *   parent -> { stop }           child -> { stopped }: plugins stopped, folders removed
 *
 * Latencies are from each prize's stream entry id (the Redis time of the fan-out that
 * appended it) to its arrival at the plugin's link, and to the plugin's 'prize' event
 * (granted through the host and fsync'd in the ledger), on this machine's clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnPlugin } from '../plugin/cairn-plugin.js';
import type { Host } from '../plugin/host.js';
import type { HuntRules } from '../protocol/index.js';

export type ToGameServer = { start: { url: string; servers: string[]; token: string; hunt: HuntRules } } | { collect: true } | { stop: true };
export type FromGameServer =
  | { ready: true }
  | { started: true }
  | { granted: number }
  | { arrived: number[]; grantedMs: number[]; cpuMs: number }
  | { stopped: true }
  | { failed: string };

/** ms from a delivery id ("1764331200000-0") to now. */
export const sinceEntry = (id: string): number => Date.now() - Number(id.slice(0, id.indexOf('-')));

export function benchHost(serverId: string): Host {
  return { serverId, now: () => Date.now(), isOnline: () => true, hasPermission: () => false, giveItem: () => true, tell: () => {} };
}

/**
 * Records arrivals at the plugin's link (before its ledger append and fsync) and grants. The
 * plugin keeps its link private, so this reaches in; arrivals are skipped if that changes.
 */
export function watch(p: CairnPlugin, arrived: number[], granted: number[], onGrant: () => void, onArrival?: () => void): void {
  const link = (p as unknown as { p?: { link?: { on?: (ev: string, fn: (x: { id: string }) => void) => void } } }).p?.link;
  link?.on?.('prize', (x) => {
    onArrival?.();
    arrived.push(sinceEntry(x.id));
  });
  p.on('prize', (x: { id: string }) => {
    granted.push(sinceEntry(x.id));
    onGrant();
  });
}

async function main(): Promise<void> {
  const send = (m: FromGameServer) => process.send!(m);
  let plugins: CairnPlugin[] = [];
  let dirs: string[] = [];
  const arrived: number[] = [];
  const granted: number[] = [];
  // CPU time from the first arrival since the last collect to the last grant: the plugins'
  // work for the window, without the idle seconds around it.
  let cpuFrom: NodeJS.CpuUsage | undefined;
  let cpuTo: NodeJS.CpuUsage | undefined;
  let total = 0;
  let reporting = false;
  const onArrival = () => {
    cpuFrom ??= process.cpuUsage();
  };
  const onGrant = () => {
    cpuTo = process.cpuUsage();
    total++;
    if (reporting) return;
    reporting = true;
    setImmediate(() => {
      reporting = false;
      send({ granted: total });
    });
  };
  const removeDirs = () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs = [];
  };
  process.on('message', (m: ToGameServer) => {
    void (async () => {
      if ('start' in m) {
        total = 0;
        for (const server of m.start.servers) {
          const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-plugin-'));
          dirs.push(dir);
          const p = await CairnPlugin.start({ host: benchHost(server), hunts: [m.start.hunt], dataDir: dir, gatewayUrl: m.start.url, token: m.start.token, heartbeatMs: 60_000 });
          watch(p, arrived, granted, onGrant, onArrival);
          plugins.push(p);
        }
        send({ started: true });
      } else if ('collect' in m) {
        const cpuMs = cpuFrom && cpuTo ? (cpuTo.user - cpuFrom.user + cpuTo.system - cpuFrom.system) / 1000 : 0;
        cpuFrom = cpuTo = undefined;
        // The arrays themselves are the ones the plugins' listeners fill: empty them in place.
        send({ arrived: arrived.splice(0), grantedMs: granted.splice(0), cpuMs });
        total = 0;
      } else {
        await Promise.all(plugins.map((p) => p.stop(1000).catch(() => {})));
        plugins = [];
        removeDirs();
        send({ stopped: true });
      }
    })().catch((err: unknown) => send({ failed: String((err as Error).stack ?? err) }));
  });
  // Exits with the parent: the IPC channel closing is the signal.
  process.on('disconnect', () => {
    removeDirs();
    process.exit(0);
  });
  send({ ready: true });
}

if (process.send && process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();
