/**
 * The event gateway: a WebSocket server for plugin links, plus /metrics, /healthz and
 * /readyz on the same port. Each connection is a gateway/connection.ts Connection; this
 * file owns what they share: the Kinesis writer, the registry of one live connection per
 * server, liveness pings, and shutdown.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { CairnError, ErrorCode, MAX_FRAME_BYTES } from '../protocol/index.js';
import { KINESIS_PUT_PAYLOAD_UNIT_BYTES } from '../protocol/limits.js';
import { logger } from '../common/log.js';
import { bearerToken, tokensMatch } from './auth.js';
import { checkRecordTarget } from './batch-records.js';
import { Connection, type ConnectionContext } from './connection.js';
import { answerQuery } from './queries.js';
import { Delivery } from './delivery.js';
import { DurableSeqs } from './durable-seqs.js';
import { DEFAULT_PARTITION_BUCKETS } from './kinesis-writer/options.js';
import { kinesisSink, type PutRecordsSink } from './kinesis-writer/sink.js';
import { KinesisWriter } from './kinesis-writer/writer.js';
import { GatewayMetrics, type GatewayStats } from './metrics.js';
import { PartitionScheme } from '../backend/kinesis/partition-keys.js';
import type { RedisKeys } from '../backend/redis/keys.js';

export type { GatewayStats } from './metrics.js';

const log = logger('gateway');

export interface GatewayOptions {
  /** 0 picks a free port. */
  port: number;
  /** Interface to listen on. @default every interface (Node's default) */
  host?: string;
  /** Shared secret every server presents in its hello (or as `Authorization: Bearer` on the upgrade). */
  token: string;
  /** Shared connection; each connected server's delivery duplicates it for its blocking reads. */
  redis: Redis;
  keys: RedisKeys;
  kinesis: KinesisClient;
  stream: string;
  /** Where the metrics are registered. @default a new Registry */
  registry?: Registry;
  /** Target size of an aggregated Kinesis record, data plus partition key, 1 KiB to 1 MiB. @default 25 KiB (one PUT payload unit) */
  recordTargetBytes?: number;
  /**
   * Partition buckets (gateway/partition-keys.ts): each player's events go to one, and
   * each bucket to one slice of the hash key space. Every gateway instance writing to a
   * stream must use the same value (and recordTargetBytes), so a resent batch splits
   * into the same parts wherever it lands. @default shardCount, else 4
   */
  partitionBuckets?: number;
  /** PutRecords calls in flight at once. @default 4 */
  maxPutsInFlight?: number;
  /** How long a delivery's XREADGROUP blocks; bounds how long stopping a delivery takes. @default 1000 */
  deliveryBlockMs?: number;
  /** Replaces `kinesis` for PutRecords: a fault-injecting wrapper in tests, a counting null sink in benchmarks. */
  sink?: PutRecordsSink;
  /** Bytes of received, unacked batches per connection before its socket is no longer read. @default 8 MiB */
  maxUnackedBytes?: number;
  /** A connection that sends no hello within this time is closed. @default 10000 */
  helloTimeoutMs?: number;
  /** Ping interval; a connection that has not answered the previous ping is terminated. @default 15000 */
  pingIntervalMs?: number;
  /** How long close() waits for in-flight batches to be acked. @default 10000 */
  shutdownWaitMs?: number;
  /** Shards of the stream, when known: puts are paced under the per-shard write quotas. @default undefined */
  shardCount?: number;
  /** How long queued records wait for others to share a PutRecords call (see KinesisWriterOptions.lingerMs). @default 10 */
  putLingerMs?: number;
  /** Retry tuning of the Kinesis writer (see KinesisWriterOptions). */
  putBaseDelayMs?: number;
  putMaxDelayMs?: number;
  putMaxAttempts?: number;
}

export interface Gateway {
  port: number;
  url: string;
  stats(): GatewayStats;
  close(): Promise<void>;
}

/** Fragments per message; 1 MiB in 1 KiB fragments still fits. */
export const MAX_FRAGMENTS = 1024;

/** How long a new connection waits for the in-flight batches of the connection it replaces. */
const REPLACE_WAIT_MS = 5000;

/** Runs a constructor that validates options, turning its RangeError into a ConfigInvalid error. */
function configured<T>(make: () => T): T {
  try {
    return make();
  } catch (err) {
    if (err instanceof RangeError) throw new CairnError(ErrorCode.ConfigInvalid, `gateway option ${err.message}`);
    throw err;
  }
}

function positiveInt(name: string, v: number | undefined, def: number): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < 1) throw new CairnError(ErrorCode.ConfigInvalid, `gateway option ${name}=${String(v)}: must be a positive integer`);
  return x;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const recordTargetBytes = configured(() => checkRecordTarget(opts.recordTargetBytes ?? KINESIS_PUT_PAYLOAD_UNIT_BYTES));
  if (typeof opts.token !== 'string' || opts.token.length === 0) throw new CairnError(ErrorCode.ConfigInvalid, 'gateway option token: must be a non-empty string');
  const maxUnackedBytes = positiveInt('maxUnackedBytes', opts.maxUnackedBytes, 8 * 1024 * 1024);
  const helloTimeoutMs = positiveInt('helloTimeoutMs', opts.helloTimeoutMs, 10_000);
  const pingIntervalMs = positiveInt('pingIntervalMs', opts.pingIntervalMs, 15_000);
  const shutdownWaitMs = positiveInt('shutdownWaitMs', opts.shutdownWaitMs, 10_000);
  const deliveryBlockMs = positiveInt('deliveryBlockMs', opts.deliveryBlockMs, 1000);

  const scheme = configured(() => new PartitionScheme(opts.partitionBuckets ?? opts.shardCount ?? DEFAULT_PARTITION_BUCKETS));
  const metrics = new GatewayMetrics(opts.registry);
  const writer = configured(() => new KinesisWriter({
    sink: opts.sink ?? kinesisSink(opts.kinesis),
    stream: opts.stream,
    metrics,
    scheme,
    recordTargetBytes,
    maxPutsInFlight: positiveInt('maxPutsInFlight', opts.maxPutsInFlight, 4),
    ...(opts.shardCount !== undefined ? { shardCount: opts.shardCount } : {}),
    ...(opts.putLingerMs !== undefined ? { lingerMs: opts.putLingerMs } : {}),
    ...(opts.putBaseDelayMs !== undefined ? { baseDelayMs: opts.putBaseDelayMs } : {}),
    ...(opts.putMaxDelayMs !== undefined ? { maxDelayMs: opts.putMaxDelayMs } : {}),
    ...(opts.putMaxAttempts !== undefined ? { maxAttempts: opts.putMaxAttempts } : {}),
  }));
  const durable = new DurableSeqs(opts.redis, opts.keys);
  const byServer = new Map<string, Connection>();
  const connections = new Set<Connection>();
  let closing = false;

  const ctx: ConnectionContext = {
    token: opts.token,
    durable,
    writer,
    metrics,
    maxUnackedBytes,
    helloTimeoutMs,
    async claim(conn) {
      const server = conn.server!;
      const old = byServer.get(server);
      if (old && old !== conn && old.epoch > conn.epoch) return { newer: old.epoch };
      byServer.set(server, conn);
      if (old && old !== conn) {
        log.info({ server, oldEpoch: old.epoch, epoch: conn.epoch }, 'newer connection replaces the old one');
        await old.replace(REPLACE_WAIT_MS);
      }
      return {};
    },
    release(conn) {
      connections.delete(conn);
      if (conn.server !== undefined && byServer.get(conn.server) === conn) byServer.delete(conn.server);
    },
    answerQuery: (q) => answerQuery(opts.redis, opts.keys, q),
    startDelivery(conn) {
      const d = new Delivery({
        redis: opts.redis,
        keys: opts.keys,
        server: conn.server!,
        metrics,
        blockMs: deliveryBlockMs,
        send: (msg) => conn.deliver(msg),
        congested: () => conn.congested,
      });
      d.start();
      return d;
    },
  };

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    // A message split into many tiny fragments costs a Buffer object per fragment before
    // maxPayload is reached (#4 "a flood of tiny fragments"); our plugin never fragments,
    // other clients fragment at a few KiB at most. ws closes with 1008 past this.
    maxFragments: MAX_FRAGMENTS,
    clientTracking: false,
  });

  const http = createServer((req, res) => void serveHttp(req, res));
  // Slowloris and header floods: Node answers 431 past 16 KiB of headers or maxHeadersCount headers.
  http.headersTimeout = 10_000;
  http.requestTimeout = 30_000;

  async function serveHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      try {
        const body = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body);
      } catch (err) {
        res.writeHead(500).end(String((err as Error).message));
      }
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const ready = !closing && opts.redis.status === 'ready';
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : `not ready (redis ${opts.redis.status}${closing ? ', closing' : ''})\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; the WebSocket endpoint is any path with an Upgrade\n');
  }

  function refuseUpgrade(socket: Duplex, status: number, text: string): void {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  }

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    if (closing) {
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    // Optional early authentication: a wrong bearer token is refused before any WebSocket frame.
    const bearer = bearerToken(req.headers.authorization);
    if (bearer !== undefined && !tokensMatch(bearer, opts.token)) {
      metrics.authFailure();
      log.warn({ remote: req.socket.remoteAddress }, 'upgrade refused: bearer token does not match');
      refuseUpgrade(socket, 401, 'Unauthorized');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const conn = new Connection(ws, ctx, `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`);
      connections.add(conn);
    });
  });

  http.listen(opts.port, opts.host);
  await once(http, 'listening');
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const urlHost = !opts.host || opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  log.info({ port, stream: opts.stream }, 'gateway listening');

  const pinger = setInterval(() => {
    for (const conn of connections) {
      if (conn.awaitingPong) {
        log.warn({ remote: conn.remote, server: conn.server }, 'no pong since the last ping; terminating');
        conn.ws.terminate();
        continue;
      }
      conn.awaitingPong = true;
      conn.ws.ping();
    }
  }, pingIntervalMs);
  pinger.unref();

  let closed: Promise<void> | undefined;
  return {
    port,
    url: `ws://${urlHost}:${port}`,
    stats: () => metrics.snapshot(),
    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(pinger);
        const httpClosed = new Promise<void>((r) => http.close(() => r()));
        await Promise.all([...connections].map((c) => c.shutdown(shutdownWaitMs)));
        // Puts of connections that gave up waiting: bounded too, a hung call must not hang close().
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([writer.drain(), new Promise<void>((r) => (timer = setTimeout(r, shutdownWaitMs)))]);
        clearTimeout(timer);
        wss.close();
        http.closeAllConnections();
        await httpClosed;
        log.info({ port }, 'gateway closed');
      })();
      return closed;
    },
  };
}
