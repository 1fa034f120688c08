/**
 * `cairn gateway` and `cairn worker`: the back end as standalone processes, configured
 * from the environment. They share Redis and Kinesis, so neither starts an embedded one:
 * Redis must answer at CAIRN_REDIS_URL, and Kinesis is CAIRN_KINESIS_ENDPOINT (for
 * example a kinesalite started with `npx kinesalite --port 4567`) or AWS itself.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { logger } from '../common/log.js';
import { loadEnvConfig } from '../backend/config.js';
import { redisSettingsWarnings } from '../worker/worker.js';
import { parse } from './main.js';
import { startStack, type Stack } from './stack.js';

const log = logger('cli');

async function serveMetrics(stack: Stack, port: number | undefined): Promise<() => Promise<void>> {
  if (port === undefined) return async () => {};
  const srv = createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.setHeader('content-type', stack.registry.contentType);
    res.end(await stack.registry.metrics());
  });
  srv.listen(port);
  await once(srv, 'listening');
  log.info({ port }, 'metrics on /metrics');
  return () => new Promise((r) => srv.close(() => r()));
}

async function runUntilSignal(stack: Stack, stopMetrics: () => Promise<void>, what: string): Promise<number> {
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal }, `${what} stopping`);
  await stopMetrics();
  await stack.stop();
  return 0;
}

const metricsOption = { 'metrics-port': { type: 'string' as const } };
const metricsPort = (v: string | undefined) => (v === undefined ? undefined : Number(v));

export async function gatewayCommand(args: string[]): Promise<number> {
  const { values } = parse(args, metricsOption);
  const config = loadEnvConfig();
  const stack = await startStack({ config, embedded: false, gateway: true, workers: 0 });
  log.info({ url: stack.gateway!.url, stream: stack.stream, prefix: stack.keys.prefix, redis: stack.redisUrl }, 'gateway listening');
  process.stderr.write(`cairn gateway listening on ${stack.gateway!.url} (stream ${stack.stream}, Redis ${stack.redisUrl}, prefix ${stack.keys.prefix})\n`);
  if (stack.page) process.stderr.write(`cairn live hunt page on ${stack.page.url}/hunts/<hunt id>\n`);
  return runUntilSignal(stack, await serveMetrics(stack, metricsPort(values['metrics-port'])), 'gateway');
}

export async function workerCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { ...metricsOption, 'poll-ms': { type: 'string' } });
  const config = loadEnvConfig();
  const pollMs = values['poll-ms'] !== undefined ? Number(values['poll-ms']) : undefined;
  const stack = await startStack({ config, embedded: false, gateway: false, workers: 1, ...(pollMs ? { pollMs } : {}) });
  // Prize state lives in Redis: an evicting or non-persistent Redis can lose decided prizes.
  for (const warning of await redisSettingsWarnings(stack.redis)) {
    log.warn(warning);
    process.stderr.write(`cairn worker: warning: ${warning}\n`);
  }
  process.stderr.write(`cairn worker reading ${stack.stream} (Redis ${stack.redisUrl}, prefix ${stack.keys.prefix})\n`);
  return runUntilSignal(stack, await serveMetrics(stack, metricsPort(values['metrics-port'])), 'worker');
}
