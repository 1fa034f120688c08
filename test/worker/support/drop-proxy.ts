/**
 * A TCP proxy in front of a Redis that can lose a reply: armed, it lets the next command
 * through to Redis (which applies it), throws away Redis's answer and cuts both sockets.
 * The client sees its connection drop with a command unanswered, reconnects through the
 * proxy, and ioredis resends the command (autoResendUnfulfilledCommands, on by default):
 * the same write reaches Redis twice, as after a real network failure.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface DropProxy {
  port: number;
  url: string;
  /** The next reply from Redis is lost and the connection it was on is cut. */
  dropNextReply(): void;
  /**
   * The reply to the next command whose bytes contain `marker` (e.g. a script's SHA) is
   * lost and its connection cut; `onDrop` runs at that moment (Redis has run the command).
   */
  dropReplyTo(marker: string, onDrop?: () => void): void;
  /** Replies lost so far. */
  readonly dropped: number;
  close(): Promise<void>;
}

export async function startDropProxy(target: { host: string; port: number }): Promise<DropProxy> {
  let armed = false;
  let marker: string | undefined;
  let onDropped: (() => void) | undefined;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    sockets.add(client);
    sockets.add(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut);
    upstream.on('error', cut);
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('data', (d: Buffer) => {
      if (marker !== undefined && d.includes(marker)) {
        marker = undefined;
        armed = true;
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (armed) {
        armed = false;
        dropped++;
        cut();
        const f = onDropped;
        onDropped = undefined;
        f?.();
        return;
      }
      client.write(d);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dropNextReply() {
      armed = true;
    },
    dropReplyTo(m, onDrop) {
      marker = m;
      onDropped = onDrop;
    },
    get dropped() {
      return dropped;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
