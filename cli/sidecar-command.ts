/**
 * `cairn sidecar`: the plugin in its own process, next to a game server that does not run
 * Node (Hytale, Paper: hosts/java-bridge). It listens on a local socket for one game
 * server's bridge (docs/sidecar-protocol.md) and ships to the gateway of CAIRN_GATEWAY_URL
 * or --gateway; with neither, it starts an embedded back end as `cairn demo` does.
 */
import { logger } from '../common/log.js';
import { loadEnvConfig } from '../backend/config.js';
import { CairnPlugin } from '../plugin/cairn-plugin.js';
import { loadHuntsDir } from '../plugin/hunts-folder.js';
import { Sidecar, type ListenAddress } from '../plugin/hosts/bridge-server.js';
import { parse, UsageError } from './main.js';
import type { Stack } from './stack.js';

const log = logger('sidecar');

export function parseListen(s: string): ListenAddress {
  if (s.includes('/')) return { path: s };
  const m = /^(.+):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen ${JSON.stringify(s)}: use HOST:PORT (e.g. 127.0.0.1:7171) or a Unix socket path`);
  return { host: m[1]!, port };
}

export async function sidecarCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    hunts: { type: 'string' },
    'data-dir': { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:7171' },
    clock: { type: 'string', default: 'wall' },
    gateway: { type: 'string' },
    'flush-interval': { type: 'string' },
  });
  if (!values.hunts) throw new UsageError('sidecar needs --hunts DIR (one rules file per hunt)');
  if (!values['data-dir']) throw new UsageError('sidecar needs --data-dir DIR (one per game server)');
  const clock = values.clock;
  if (clock !== 'wall' && clock !== 'game') throw new UsageError(`--clock must be wall or game, got "${clock}"`);
  const flushIntervalMs = values['flush-interval'] === undefined ? undefined : Number(values['flush-interval']);
  if (flushIntervalMs !== undefined && !(Number.isInteger(flushIntervalMs) && flushIntervalMs > 0)) throw new UsageError('--flush-interval must be a positive integer (ms)');
  const listen = parseListen(values.listen!);
  const huntsDir = values.hunts;
  const loaded = loadHuntsDir(huntsDir);
  if (!loaded.ok) throw new UsageError(`--hunts ${huntsDir}:\n  ${loaded.errors.join('\n  ')}`);
  for (const w of loaded.warnings) log.warn({ warning: w }, 'hunt rules warning');
  const config = loadEnvConfig();
  const gatewayUrl = values.gateway ?? process.env.CAIRN_GATEWAY_URL;
  let stack: Stack | undefined;
  // The back end's modules (AWS SDK, kinesalite, ioredis) load only when it is embedded.
  if (!gatewayUrl) stack = await (await import('./stack.js')).startStack({ config, embedded: true, gateway: true, workers: 1, isolate: true, port: 0, pollMs: 100 });
  const url = gatewayUrl ?? stack!.gateway!.url;
  let sidecar: Sidecar;
  try {
    sidecar = await Sidecar.start({
      dataDir: values['data-dir'],
      clock,
      listen,
      startPlugin: (host, dataDir) =>
        CairnPlugin.start({
          host,
          hunts: loaded.hunts,
          huntsDir,
          dataDir,
          gatewayUrl: url,
          token: config.token,
          autoFlush: clock === 'wall',
          ...(flushIntervalMs ? { flushIntervalMs } : {}),
        }),
    });
  } catch (err) {
    await stack?.stop();
    throw err;
  }
  // The one line a supervisor (or a test) reads to learn the address, e.g. with --listen 127.0.0.1:0.
  process.stdout.write(`cairn sidecar listening on ${sidecar.address} (clock ${clock}, gateway ${url}${stack ? ', embedded back end' : ''})\n`);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal, stats: sidecar.stats }, 'sidecar stopping');
  await sidecar.close();
  await stack?.stop();
  return 0;
}
