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
import { raceTimeout } from '../common/async.js';
import { logger } from '../common/log.js';
import { bearerToken, tokensMatch } from './auth.js';
import { Connection, type ConnectionContext } from './connection.js';
import { answerQuery } from './queries.js';
import { Delivery } from './delivery.js';
import { DurableSeqs } from './durable-seqs.js';
import { kinesisSink, listOpenShards, type PutRecordsSink } from './kinesis-writer/sink.js';
import { KinesisWriter } from './kinesis-writer/writer.js';
import { GatewayMetrics, type GatewayStats } from './metrics.js';
import type { BatchTap } from './live-page/event-tap.js';
import { resolveGatewaySettings, type GatewaySettings } from './options.js';
import type { RedisKeys } from '../backend/redis/keys.js';

export type { GatewayStats } from './metrics.js';

const log = logger('gateway');

/** The settings (gateway/options.ts, validated by its schema) and the live objects the gateway uses. */
export interface GatewayOptions extends GatewaySettings {
  /** Shared connection; each connected server's delivery duplicates it for its blocking reads. */
  redis: Redis;
  keys: RedisKeys;
  kinesis: KinesisClient;
  /** Where the metrics are registered. @default a new Registry */
  registry?: Registry;
  /** Replaces `kinesis` for PutRecords: a fault-injecting wrapper in tests, a counting null sink in benchmarks. */
  sink?: PutRecordsSink;
  /** Sees each fresh batch's events: the live page's tap (gateway/live-page/event-tap.ts). */
  tap?: BatchTap;
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

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { redis, keys, kinesis, registry, sink, tap, ...given } = opts;
  const settings = resolveGatewaySettings(given);
  if (!redis) throw new CairnError(ErrorCode.ConfigInvalid, 'gateway option redis: a Redis connection is required');
  if (!keys) throw new CairnError(ErrorCode.ConfigInvalid, 'gateway option keys: the Redis keys are required');
  if (!kinesis && !sink) throw new CairnError(ErrorCode.ConfigInvalid, 'gateway option kinesis: a Kinesis client (or a sink) is required');
  const { recordTargetBytes, maxUnackedBytes, helloTimeoutMs, closeGraceMs, pingIntervalMs, shutdownWaitMs, deliveryBlockMs, upgradeTimeoutMs } = settings;

  const metrics = new GatewayMetrics(registry);
  const writer = configured(() => new KinesisWriter({
    sink: sink ?? kinesisSink(kinesis),
    stream: settings.stream,
    metrics,
    recordTargetBytes,
    maxPutsInFlight: settings.maxPutsInFlight,
    // A fixed shard count stands in for the stream's own listing (tests, benchmarks with a sink).
    ...(settings.shardCount !== undefined ? { shardCount: settings.shardCount } : kinesis ? { listShards: () => listOpenShards(kinesis, settings.stream), shardRefreshMs: settings.shardRefreshMs } : {}),
    ...(settings.putLingerMs !== undefined ? { lingerMs: settings.putLingerMs } : {}),
    ...(settings.putBaseDelayMs !== undefined ? { baseDelayMs: settings.putBaseDelayMs } : {}),
    ...(settings.putMaxDelayMs !== undefined ? { maxDelayMs: settings.putMaxDelayMs } : {}),
    ...(settings.putMaxAttempts !== undefined ? { maxAttempts: settings.putMaxAttempts } : {}),
  }));
  const durable = new DurableSeqs(redis, keys);
  const byServer = new Map<string, Connection>();
  const connections = new Set<Connection>();
  let closing = false;

  const ctx: ConnectionContext = {
    token: settings.token,
    durable,
    writer,
    metrics,
    maxUnackedBytes,
    helloTimeoutMs,
    closeGraceMs,
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
    answerQuery: (q) => answerQuery(redis, keys, q),
    ...(tap ? { tap } : {}),
    startDelivery(conn) {
      const d = new Delivery({
        redis,
        keys,
        server: conn.server!,
        metrics,
        blockMs: deliveryBlockMs,
        send: (msgs) => conn.deliver(msgs),
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
    // maxPayload is reached; our plugin never fragments,
    // other clients fragment at a few KiB at most. ws closes with 1008 past this.
    maxFragments: MAX_FRAGMENTS,
    clientTracking: false,
  });

  // Slowloris and silent sockets: a connection that has not sent a whole request within
  // upgradeTimeoutMs is closed. Node enforces headersTimeout and requestTimeout only when
  // it sweeps its connections, every connectionsCheckingInterval (30 s by default, so a
  // silent socket lived up to 40 s); sweeping 10 times per timeout keeps the bound at
  // 1.1 x upgradeTimeoutMs. Node answers 431 past 16 KiB of headers.
  const http = createServer(
    {
      headersTimeout: upgradeTimeoutMs,
      requestTimeout: upgradeTimeoutMs,
      keepAliveTimeout: Math.min(5000, upgradeTimeoutMs),
      connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(upgradeTimeoutMs / 10))),
    },
    (req, res) => void serveHttp(req, res),
  );

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
        log.error({ err }, 'metrics could not be collected');
        res.writeHead(500).end('metrics could not be collected; see the gateway log\n');
      }
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const ready = !closing && redis.status === 'ready';
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : `not ready (redis ${redis.status}${closing ? ', closing' : ''})\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; the WebSocket endpoint is any path with an Upgrade\n');
  }

  function refuseUpgrade(socket: Duplex, status: number, text: string): void {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  }

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A peer that resets during the handshake destroys `req` with ECONNRESET ("aborted"):
    // unhandled, that error would end the whole gateway process.
    socket.on('error', () => {});
    req.on('error', () => {});
    if (closing) {
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    // Optional early authentication: a wrong bearer token is refused before any WebSocket frame.
    const bearer = bearerToken(req.headers.authorization);
    if (bearer !== undefined && !tokensMatch(bearer, settings.token)) {
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

  http.listen(settings.port, settings.host);
  await once(http, 'listening');
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : settings.port;
  const host = settings.host;
  const urlHost = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  log.info({ port, stream: settings.stream }, 'gateway listening');

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
        await raceTimeout(writer.drain(), shutdownWaitMs);
        writer.close();
        wss.close();
        http.closeAllConnections();
        await httpClosed;
        log.info({ port }, 'gateway closed');
      })();
      return closed;
    },
  };
}
