/**
 * The `cairn` command line: replay, demo, gateway, worker, check-rules, schema.
 * Wrong usage answers with the usage line; errors print their message (no stack
 * trace unless CAIRN_LOG_LEVEL=debug) and exit non-zero.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CairnError } from '../protocol/index.js';
import { envHelp } from '../backend/config.js';

export const USAGE = `usage: cairn <command> [options]

commands:
  demo [--duration 60s] [--bots 24]        a simulated hunt end to end on embedded defaults (npm start)
  replay --rules FILE --trace FILE [--json] [--gateway ws://HOST:PORT[,ws://HOST:PORT...]] [--compare OLD_RULES_FILE]
                                           run a trace through the whole pipeline and print the prizes
                                           (several gateways: the servers are spread over them)
  gateway                                  run the event gateway (CAIRN_GATEWAY_PORT, CAIRN_TOKEN, ...)
  worker                                   run a batch worker (several may run at once)
  check-rules FILE...                      validate hunt rules files; exit 1 when any is invalid
  schema [--out FILE]                      write the hunt rules JSON Schema (default schema/hunt-rules.schema.json)

${envHelp()}`;

export class UsageError extends Error {}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'replay':
        return await (await import('./replay-command.js')).replayCommand(rest);
      case 'demo':
        return await (await import('./demo-command.js')).demoCommand(rest);
      case 'gateway':
        return await (await import('./serve-commands.js')).gatewayCommand(rest);
      case 'worker':
        return await (await import('./serve-commands.js')).workerCommand(rest);
      case 'sidecar':
        return await (await import('./sidecar-command.js')).sidecarCommand(rest);
      case 'check-rules':
        return await (await import('./check-rules-command.js')).checkRulesCommand(rest);
      case 'schema':
        return await (await import('./schema-command.js')).schemaCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`cairn: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof CairnError) {
      process.stderr.write(`cairn: ${err.message}\n`);
      if (process.env.CAIRN_LOG_LEVEL === 'debug') process.stderr.write(`${err.stack}\n`);
      return 1;
    }
    process.stderr.write(`cairn: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}
