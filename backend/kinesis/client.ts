/**
 * The Kinesis client: a real endpoint (CAIRN_KINESIS_ENDPOINT, or AWS's own when
 * unset and not embedded) or kinesalite started in-process on a free port.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { Agent } from 'node:http';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { CairnError, ErrorCode } from '../../protocol/index.js';
import { logger } from '../../common/log.js';
import { sleep } from '../../common/async.js';

const log = logger('kinesis');
const require = createRequire(import.meta.url);

export interface KinesisTarget {
  client: KinesisClient;
  endpoint: string | undefined;
  stop(): Promise<void>;
}

export function makeKinesisClient(endpoint: string | undefined, region = process.env.AWS_REGION ?? 'us-east-1'): KinesisClient {
  return new KinesisClient({
    region,
    ...(endpoint ? { endpoint } : {}),
    // kinesalite speaks HTTP/1.1 only; the SDK's HTTP/2 handler cannot talk to it.
    // throwOnRequestTimeout: without it requestTimeout only logs a warning, and a put on a
    // half-open connection (the peer gone without FIN or RST) waited forever, holding its
    // batches unacked; with it the call fails and the writer retries it.
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }), requestTimeout: 30_000, throwOnRequestTimeout: true, connectionTimeout: 5_000 }),
    // kinesalite accepts any credentials; real AWS uses the default provider chain.
    ...(endpoint && !process.env.AWS_ACCESS_KEY_ID ? { credentials: { accessKeyId: 'cairn-local', secretAccessKey: 'cairn-local' } } : {}),
  });
}

/** Starts kinesalite in this process on a free port (in memory; streams are ready at once). */
export async function startKinesalite(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const kinesalite = require('kinesalite') as (opts: object) => Server;
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  // kinesalite rethrows a request's error (its index.js: `req.on('error', err => { throw err })`),
  // so a client that resets mid-request ("aborted", ECONNRESET) would end the whole process
  // it is embedded in. Its handler gets a request whose 'error' listeners only log.
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const on = req.on.bind(req);
    req.on = ((event: string, fn: (...args: unknown[]) => void) =>
      event === 'error' ? on('error', (err: Error) => log.debug({ err }, 'kinesalite: request aborted by its client')) : on(event, fn)) as typeof req.on;
    for (const h of handlers) h.call(server, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** CAIRN_KINESIS_ENDPOINT set: use it. Unset and `embedded`: start kinesalite. */
export async function resolveKinesis(endpoint: string | undefined, embedded: boolean): Promise<KinesisTarget> {
  if (endpoint || !embedded) {
    const client = makeKinesisClient(endpoint);
    return { client, endpoint, stop: async () => client.destroy() };
  }
  const k = await startKinesalite();
  log.info({ endpoint: k.endpoint }, 'embedded kinesalite started');
  const client = makeKinesisClient(k.endpoint);
  return {
    client,
    endpoint: k.endpoint,
    stop: async () => {
      client.destroy();
      await k.stop();
    },
  };
}

/** Creates the stream when missing and waits until it is ACTIVE; returns its shard count. */
export async function ensureStream(client: KinesisClient, name: string, shards: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  try {
    await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
    log.info({ stream: name, shards }, 'created Kinesis stream');
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) {
      throw new CairnError(ErrorCode.KinesisUnavailable, `cannot create Kinesis stream ${name}: ${(err as Error).message}`, { cause: err });
    }
  }
  for (;;) {
    try {
      const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
      if (d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
    }
    if (Date.now() > deadline) throw new CairnError(ErrorCode.KinesisUnavailable, `Kinesis stream ${name} did not become ACTIVE within 60 s`);
    await sleep(100);
  }
}
