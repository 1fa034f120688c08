/**
 * A flying-squid Minecraft server with Cairn loaded: what a hunt host runs.
 *
 *   npm ci --prefix hosts/flying-squid
 *   npx tsx hosts/flying-squid/serve.ts --hunt hunts/spring.json --adapter hosts/flying-squid/example-adapter.json --offline
 *
 * Without --gateway it also starts the back end in this process (Redis or redis-server,
 * kinesalite, the gateway, a worker), as `cairn demo` does; with --gateway ws://HOST:PORT
 * it joins a running gateway. The server console takes flying-squid's commands, and
 * `hunt start <id>` / `hunt stop <id>` as the console. --help lists the options.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadEnvConfig } from '../../backend/config.js';
import { startStack, type Stack } from '../../cli/stack.js';
import { loadRulesFile } from '../../protocol/index.js';
import { startCairnOnFlyingSquid, type FlyingSquidHostOptions } from './adapter.js';
import type { FsItemConstructor, FsServer } from './flying-squid-api.js';

const require = createRequire(import.meta.url);

const USAGE = `Usage: npx tsx hosts/flying-squid/serve.ts --hunt FILE [--hunt FILE ...] [options]
  --hunt FILE        hunt rules (repeatable)
  --adapter FILE     adapter settings: {"items", "regions", "defaultRegion", "permissions", "playerId"}
  --version V        Minecraft version (default 1.16.5; flying-squid 1.12 supports 1.8.8 to 1.21.4)
  --port N           Minecraft port (default 25565)
  --offline          offline mode: no Mojang login (local tests, bots)
  --world DIR        world folder to keep the world and players in (default: none, a fresh flat world)
  --server-id ID     this server's id on the wire (default mc-1)
  --data-dir DIR     the plugin's epoch and prize ledger (default .cairn-data/<server-id>)
  --gateway URL      a running gateway (default: start the back end in this process)
  --token T          gateway token (default CAIRN_TOKEN or cairn-dev-token)`;

const ADAPTER_KEYS = ['items', 'regions', 'defaultRegion', 'permissions', 'playerId'];

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function adapterSettings(file: string | undefined): Omit<FlyingSquidHostOptions, 'serverId' | 'Item'> {
  if (!file) return {};
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`--adapter ${file}: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`--adapter ${file}: must be a JSON object`);
  const unknown = Object.keys(v).filter((k) => !ADAPTER_KEYS.includes(k) && k !== '$comment');
  if (unknown.length) fail(`--adapter ${file}: unknown key ${JSON.stringify(unknown[0])} (known: ${ADAPTER_KEYS.join(', ')})`);
  const { $comment: _, ...settings } = v as Record<string, unknown>;
  return settings as Omit<FlyingSquidHostOptions, 'serverId' | 'Item'>;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        hunt: { type: 'string', multiple: true },
        adapter: { type: 'string' },
        version: { type: 'string', default: '1.16.5' },
        port: { type: 'string', default: '25565' },
        offline: { type: 'boolean', default: false },
        world: { type: 'string' },
        'server-id': { type: 'string', default: 'mc-1' },
        'data-dir': { type: 'string' },
        gateway: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!values.hunt?.length) fail('--hunt: at least one hunt rules file is needed');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port ${values.port}: must be a port number`);
  const hunts = values.hunt.map((f) => loadRulesFile(f));
  const adapter = adapterSettings(values.adapter);
  const config = loadEnvConfig();
  const serverId = values['server-id']!;

  let stack: Stack | undefined;
  let gatewayUrl = values.gateway;
  if (!gatewayUrl) {
    stack = await startStack({ config, embedded: true, gateway: true, workers: 1, isolate: true, port: 0 });
    gatewayUrl = stack.gateway!.url;
  }

  const { createMCServer } = require('flying-squid') as { createMCServer(options: Record<string, unknown>): FsServer };
  const prismarineItem = require('prismarine-item') as (registry: unknown) => FsItemConstructor;
  const serv = createMCServer({
    port,
    version: values.version,
    motd: `Cairn: ${hunts.map((h) => h.name).join(', ')}`,
    'online-mode': !values.offline,
    'max-players': 50,
    logging: false,
    gameMode: 0,
    difficulty: 1,
    worldFolder: values.world,
    generation: { name: 'superflat', options: {} },
    kickTimeout: 10_000,
    plugins: {},
    modpe: false,
    'view-distance': 6,
    'player-list-text': { header: { text: 'Cairn' }, footer: { text: 'treasure hunts' } },
    'everybody-op': false,
    'max-entities': 100,
  });
  await serv.waitForReady(30_000);
  const cairn = await startCairnOnFlyingSquid(serv, {
    host: { ...adapter, serverId, Item: prismarineItem(serv.registry) },
    plugin: { hunts, dataDir: values['data-dir'] ?? join('.cairn-data', serverId), gatewayUrl, token: values.token ?? config.token },
  });
  serv.info(`[Cairn] ${serverId}: hunts ${hunts.map((h) => h.id).join(', ')}; gateway ${gatewayUrl}${stack ? ' (in this process)' : ''}; Minecraft ${values.version} on port ${serv.listeningPort}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    serv.info(`[Cairn] ${signal}: stopping`);
    await cairn.stop(5000).catch(() => {});
    await serv.quit('Server closed').catch(() => {});
    await stack?.stop();
    process.exit(0);
  };
  // flying-squid's exit hook exits at once on these signals; take them over so the plugin
  // gets its final flush and acks first. (Its console /stop still exits at once.)
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`serve: ${(err as Error).message}\n`);
  process.exit(1);
});
