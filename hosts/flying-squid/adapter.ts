/**
 * Cairn in flying-squid (a Minecraft server in Node.js): what a flying-squid process
 * imports. startCairnOnFlyingSquid loads Cairn into a running server; the host itself
 * (flying-squid events -> samples, the Host interface) is in flying-squid-host.ts, its
 * options in host-options.ts, prize items in inventory.ts.
 *
 * flying-squid, prismarine-item and friends are not dependencies of Cairn's main package:
 * the process that starts flying-squid passes the server object and prismarine-item's Item
 * class in (see hosts/flying-squid/, which has its own package.json).
 */
import { logger } from '../../common/log.js';
import { CairnPlugin, type PluginOptions } from '../../plugin/cairn-plugin.js';
import type { Sample } from '../../plugin/host.js';
import type { FsServer } from './flying-squid-api.js';
import { FlyingSquidHost } from './flying-squid-host.js';
import type { FlyingSquidHostOptions } from './host-options.js';

export { FlyingSquidHost } from './flying-squid-host.js';
export { CONSOLE, type FlyingSquidHostOptions, type FlyingSquidHostStats, type FlyingSquidPermissions, type RegionBox, type SampleSink } from './host-options.js';
export { planInsert } from './inventory.js';

const log = logger('flying-squid');

export interface CairnOnFlyingSquid {
  host: FlyingSquidHost;
  plugin: CairnPlugin;
  /** Stops the plugin (final flush, acks), then detaches the adapter. The server keeps running. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Loads Cairn into a running flying-squid server: makes the host, starts the plugin (which
 * resolves once the gateway welcomed it), and attaches the two. `tap` sees every sample
 * before the plugin does (tests record what the server saw with it).
 */
export async function startCairnOnFlyingSquid(
  serv: FsServer,
  opts: { host: FlyingSquidHostOptions; plugin: Omit<PluginOptions, 'host'>; tap?: (sample: Sample) => void },
): Promise<CairnOnFlyingSquid> {
  const host = new FlyingSquidHost(serv, opts.host);
  let plugin: CairnPlugin;
  try {
    plugin = await CairnPlugin.start({ ...opts.plugin, host });
  } catch (err) {
    host.close();
    throw err;
  }
  // An unhandled 'error' would stop the server with the plugin; the plugin logs it either way.
  plugin.on('error', () => {});
  const tap = opts.tap;
  host.attach(
    tap
      ? {
          accept(sample) {
            try {
              tap(sample);
            } catch (err) {
              log.warn({ err }, 'sample tap threw');
            }
            plugin.accept(sample);
          },
        }
      : plugin,
  );
  log.info({ server: host.serverId, players: serv.players.length }, 'Cairn loaded into flying-squid');
  return {
    host,
    plugin,
    async stop(timeoutMs = 5000) {
      try {
        await plugin.stop(timeoutMs);
      } finally {
        host.close();
      }
    },
  };
}
