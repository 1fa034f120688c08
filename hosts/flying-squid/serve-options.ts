/**
 * The options of the example server (`node hosts/flying-squid/serve.js`): parsed and
 * checked here, with every file read, so a bad option stops it before anything starts.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { HuntRules } from '../../protocol/index.js';
import { loadRulesFile } from '../../plugin/rules-file.js';
import type { FlyingSquidHostOptions } from './adapter.js';

export const USAGE = `Usage: node hosts/flying-squid/serve.js --hunt FILE [--hunt FILE ...] [options]
  --hunt FILE        hunt rules (repeatable)
  --adapter FILE     adapter settings: {"items", "regions", "defaultRegion", "permissions", "playerId"}
  --version V        Minecraft version (default 1.16.5; flying-squid 1.12 supports 1.8.8 to 1.21.4)
  --port N           Minecraft port (default 25565; 0 = any free port)
  --host ADDR        address to listen on (default: every interface)
  --offline          offline mode: no Mojang login (local tests, bots)
  --world DIR        world folder to keep the world and players in (default: none, a fresh flat world)
  --server-id ID     this server's id on the wire (default mc-1)
  --data-dir DIR     the plugin's epoch and prize ledger (default .cairn-data/<server-id>)
  --gateway URL      a running gateway (default: start the back end in this process)
  --token T          gateway token (default CAIRN_TOKEN or cairn-dev-token)
Stops on SIGINT (Ctrl-C) or SIGTERM, and when npm or npx that started it ends.`;

export type AdapterSettings = Omit<FlyingSquidHostOptions, 'serverId' | 'Item'>;

export interface ServeOptions {
  hunts: HuntRules[];
  adapter: AdapterSettings;
  version: string;
  port: number;
  host: string | undefined;
  offline: boolean;
  world: string | undefined;
  serverId: string;
  dataDir: string | undefined;
  gateway: string | undefined;
  token: string | undefined;
}

/** A bad command line or adapter file: the message says what, the usage follows it. */
export class ServeUsageError extends Error {
  override name = 'ServeUsageError';
}

const ADAPTER_KEYS = ['items', 'regions', 'defaultRegion', 'permissions', 'playerId'];

export function readAdapterSettings(file: string | undefined): AdapterSettings {
  if (!file) return {};
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ServeUsageError(`--adapter ${file}: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ServeUsageError(`--adapter ${file}: must be a JSON object`);
  const unknown = Object.keys(v).filter((k) => !ADAPTER_KEYS.includes(k) && k !== '$comment');
  if (unknown.length) throw new ServeUsageError(`--adapter ${file}: unknown key ${JSON.stringify(unknown[0])} (known: ${ADAPTER_KEYS.join(', ')})`);
  const { $comment: _, ...settings } = v as Record<string, unknown>;
  return settings as AdapterSettings;
}

/** The options of a command line, or 'help'. Throws ServeUsageError, or RulesError for a bad hunt file. */
export function parseServeArgs(argv: string[]): ServeOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        hunt: { type: 'string', multiple: true },
        adapter: { type: 'string' },
        version: { type: 'string', default: '1.16.5' },
        port: { type: 'string', default: '25565' },
        host: { type: 'string' },
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
    throw new ServeUsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (!values.hunt?.length) throw new ServeUsageError('--hunt: at least one hunt rules file is needed');
  const port = Number(values.port);
  if (!/^[0-9]+$/.test(values.port!) || port > 65535) throw new ServeUsageError(`--port ${values.port}: must be a port number`);
  return {
    hunts: values.hunt.map((f) => loadRulesFile(f)),
    adapter: readAdapterSettings(values.adapter),
    version: values.version!,
    port,
    host: values.host,
    offline: values.offline!,
    world: values.world,
    serverId: values['server-id']!,
    dataDir: values['data-dir'],
    gateway: values.gateway,
    token: values.token,
  };
}
