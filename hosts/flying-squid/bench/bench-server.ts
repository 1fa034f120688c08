/**
 * The server side of `npm run bench:host`: a flying-squid server in its own process, the
 * example server's world, with Cairn (`--cairn`, joined to the parent's gateway) or
 * without. Between the parent's 'start' and 'stop' messages it measures itself: CPU,
 * RSS, event-loop delay, and with Cairn the flush slices, moves seen and suspects.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCairnOnFlyingSquid, type CairnOnFlyingSquid } from '../adapter.js';
import type { FsItemConstructor, FsServer } from '../flying-squid-api.js';
import { parseServeArgs, type ServeOptions } from '../serve-options.js';

export interface ServerFigures {
  cpuPercent: number;
  rssMiB: number;
  eventLoopDelayP99Ms: number;
  flushSliceP99Ms: number | null;
  flushSlices: number;
  movesPerSec: number;
  suspects: number | null;
}

const require = createRequire(import.meta.url);
const { values } = parseArgs({ options: { cairn: { type: 'boolean', default: false }, gateway: { type: 'string' }, version: { type: 'string', default: '1.16.5' } } });
const opts = parseServeArgs(['--hunt', 'example-hunt.json', '--adapter', 'example-adapter.json', '--offline', '--version', values.version!]) as ServeOptions;

const { createMCServer } = require('flying-squid') as { createMCServer(options: Record<string, unknown>): FsServer };
const serv = createMCServer({
  port: 0,
  host: '127.0.0.1',
  version: opts.version,
  'online-mode': false,
  'max-players': 100,
  logging: false,
  noConsoleOutput: true,
  gameMode: 0,
  difficulty: 1,
  generation: { name: 'superflat', options: {} },
  kickTimeout: 30_000,
  plugins: {},
  modpe: false,
  'view-distance': 6,
  'player-list-text': { header: { text: 'Cairn' }, footer: { text: 'bench' } },
  'everybody-op': false,
  'max-entities': 100,
});
await serv.waitForReady(30_000);
// as in example-server.ts: flying-squid adds two process listeners per join
process.setMaxListeners(1000);

let pauses: number[] = [];
let measuring = false;
let cairn: CairnOnFlyingSquid | undefined;
if (values.cairn) {
  const prismarineItem = require('prismarine-item') as (registry: unknown) => FsItemConstructor;
  cairn = await startCairnOnFlyingSquid(serv, {
    host: { ...opts.adapter, serverId: 'bench-1', Item: prismarineItem(serv.registry) },
    plugin: {
      hunts: opts.hunts,
      dataDir: mkdtempSync(join(tmpdir(), 'cairn-bench-host-')),
      gatewayUrl: values.gateway!,
      token: 'cairn-dev-token',
      onFlushPause: (ms) => {
        if (measuring) pauses.push(ms);
      },
    },
  });
  // The hunt runs, so entries are decided and speed is checked as in play.
  await serv.commands.use('hunt start meadow');
}

const eld = monitorEventLoopDelay({ resolution: 10 });
let cpu0 = process.cpuUsage();
let t0 = performance.now();
let moves0 = 0;
let suspects0 = 0;
let rssMax = 0;
const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 500);

process.on('message', async (m: { k: string }) => {
  if (m.k === 'start') {
    measuring = true;
    pauses = [];
    eld.reset();
    eld.enable();
    cpu0 = process.cpuUsage();
    t0 = performance.now();
    moves0 = cairn?.host.stats().moves ?? 0;
    suspects0 = cairn?.plugin.stats().suspects ?? 0;
    rssMax = process.memoryUsage().rss;
    process.send!({ k: 'started' });
  } else if (m.k === 'stop') {
    measuring = false;
    eld.disable();
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const sorted = [...pauses].sort((a, b) => a - b);
    const figures: ServerFigures = {
      cpuPercent: ((cpu.user + cpu.system) / 1000 / wall) * 100,
      rssMiB: rssMax / 2 ** 20,
      eventLoopDelayP99Ms: eld.percentile(99) / 1e6,
      flushSliceP99Ms: cairn ? (sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))] ?? 0) : null,
      flushSlices: sorted.length,
      movesPerSec: cairn ? ((cairn.host.stats().moves - moves0) * 1000) / wall : 0,
      suspects: cairn ? cairn.plugin.stats().suspects - suspects0 : null,
    };
    process.send!({ k: 'figures', figures });
  } else if (m.k === 'quit') {
    clearInterval(rssTimer);
    await cairn?.stop(5000).catch(() => {});
    await serv.quit('bench over').catch(() => {});
    process.exit(0);
  }
});
process.send!({ k: 'ready', port: serv.listeningPort });
