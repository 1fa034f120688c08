/**
 * The example server from the command line (run it with `node hosts/flying-squid/serve.js`,
 * which loads this file through tsx in the same process):
 *
 *   npm ci --prefix hosts/flying-squid
 *   node hosts/flying-squid/serve.js --hunt hosts/flying-squid/example-hunt.json \
 *       --adapter hosts/flying-squid/example-adapter.json --offline
 *
 * The server console takes flying-squid's commands, and `hunt start <id>` / `hunt stop
 * <id>` as the console. It stops, Cairn flushing first, on SIGINT or SIGTERM, and when the
 * npm or npx that started it ends (stop-requests.ts). --help lists the options.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RulesError } from '../../protocol/index.js';
import { startExampleServer } from './example-server.js';
import { parseServeArgs, ServeUsageError, USAGE } from './serve-options.js';
import { onStopRequest } from './stop-requests.js';

export async function main(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = parseServeArgs(argv);
  } catch (err) {
    if (err instanceof ServeUsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof RulesError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const server = await startExampleServer(opts);
  const { serv, stack } = server;
  const exited = new Promise<number>((resolve) => {
    onStopRequest((reason) => {
      serv.info(`[Cairn] ${reason}: stopping`);
      server.stop().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`serve: stopping failed: ${(err as Error).message}\n`);
          resolve(1);
        },
      );
    });
  });
  serv.info(
    `[Cairn] ${opts.serverId}: hunts ${opts.hunts.map((h) => h.id).join(', ')}; gateway ${server.gatewayUrl}${stack ? ' (in this process)' : ''}; ` +
      `Minecraft ${opts.version} on port ${server.port}; pid ${process.pid}`,
  );
  return exited;
}

// Run as a script (`npx tsx hosts/flying-squid/serve.ts` works too): serve.js imports it instead.
if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  // The AWS SDK warns on construction, so this is early enough (bin/cairn.js does the same).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`serve: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
