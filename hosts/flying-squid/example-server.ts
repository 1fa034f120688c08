/**
 * The example server: a flying-squid Minecraft server on a flat world (players stand at
 * y=5 and spawn at x, z in 0-30; example-hunt.json is laid out for it) with Cairn loaded,
 * and, without a gateway URL, the back end in the same process (Redis or redis-server,
 * kinesalite, the gateway, a worker), as `cairn demo` starts it. serve.ts runs it from the
 * command line; the end-to-end test runs it in-process with the same options.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { loadEnvConfig } from '../../backend/config.js';
import { startStack, type Stack } from '../../cli/stack.js';
import { logger } from '../../common/log.js';
import type { Sample } from '../../plugin/host.js';
import { startCairnOnFlyingSquid, type CairnOnFlyingSquid } from './adapter.js';
import type { FsItemConstructor, FsServer } from './flying-squid-api.js';
import type { ServeOptions } from './serve-options.js';

const require = createRequire(import.meta.url);
const log = logger('flying-squid');

export interface ExampleServer {
  serv: FsServer;
  cairn: CairnOnFlyingSquid;
  /** the back end, when this process runs it */
  stack: Stack | undefined;
  gatewayUrl: string;
  /** the Minecraft port it listens on */
  port: number;
  /** Stops Cairn (final flush and acks), then the Minecraft server, then the back end. */
  stop(): Promise<void>;
}

export interface ExampleServerExtras {
  /** sees every sample before the plugin does (the end-to-end test records them) */
  tap?: (sample: Sample) => void;
  /** flying-squid's console lines (joins, commands); on by default */
  console?: boolean;
  env?: NodeJS.ProcessEnv;
}

export async function startExampleServer(opts: ServeOptions, extra: ExampleServerExtras = {}): Promise<ExampleServer> {
  const config = loadEnvConfig(extra.env);
  let stack: Stack | undefined;
  let gatewayUrl = opts.gateway;
  if (!gatewayUrl) {
    stack = await startStack({ config, embedded: true, gateway: true, workers: 1, isolate: true, port: 0 });
    gatewayUrl = stack.gateway!.url;
  }
  let serv: FsServer | undefined;
  try {
    const { createMCServer } = require('flying-squid') as { createMCServer(options: Record<string, unknown>): FsServer };
    const prismarineItem = require('prismarine-item') as (registry: unknown) => FsItemConstructor;
    serv = createMCServer({
      port: opts.port,
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      noConsoleOutput: extra.console === false,
      version: opts.version,
      motd: `Cairn: ${opts.hunts.map((h) => h.name).join(', ')}`,
      'online-mode': !opts.offline,
      'max-players': 50,
      logging: false,
      gameMode: 0,
      difficulty: 1,
      worldFolder: opts.world,
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
    // flying-squid adds an uncaughtException and an unhandledRejection listener to the
    // process for every player who joins (src/lib/plugins/errorHandler.js) and never removes
    // them, so Node's leak warning would come at the 11th join of a normal session; with
    // this it comes at the 500th, where it says something.
    process.setMaxListeners(Math.max(process.getMaxListeners(), 1000));
    const cairn = await startCairnOnFlyingSquid(serv, {
      host: { ...opts.adapter, serverId: opts.serverId, Item: prismarineItem(serv.registry) },
      plugin: { hunts: opts.hunts, dataDir: opts.dataDir ?? join('.cairn-data', opts.serverId), gatewayUrl, token: opts.token ?? config.token },
      ...(extra.tap ? { tap: extra.tap } : {}),
    });
    const started = serv;
    let stopped: Promise<void> | undefined;
    return {
      serv,
      cairn,
      stack,
      gatewayUrl,
      port: serv.listeningPort!,
      stop: () =>
        (stopped ??= (async () => {
          await cairn.stop(5000).catch((err: unknown) => log.warn({ err }, 'Cairn did not stop cleanly'));
          await started.quit('Server closed').catch((err: unknown) => log.warn({ err }, 'flying-squid did not quit cleanly'));
          await stack?.stop();
        })()),
    };
  } catch (err) {
    await serv?.quit('Server failed to start').catch(() => {});
    await stack?.stop();
    throw err;
  }
}
