/**
 * A TCP proxy that misbehaves like a network, for the fault tests: put it between two
 * parts (plugin and gateway, gateway and Kinesis, worker and Redis, a replica and its
 * primary) and turn faults on and off while they talk.
 *
 *  - latency: every chunk waits this long before it is passed on (both directions);
 *  - bandwidth: at most this many bytes per second per direction and connection;
 *  - black hole: nothing passes and nothing is answered, but the sockets stay open, as
 *    when a route vanishes; `heal()` lets the held bytes through, as TCP's retransmits
 *    would once the route is back (connections opened meanwhile wait the same way);
 *  - reset mid-frame: the next chunk in one direction is cut in half, the first half
 *    passed on, and both sockets reset (RST, no FIN): the receiver holds half a frame;
 *  - half-open: the server side of every open connection is closed while the client's
 *    socket stays open and swallows what the client sends, answering nothing, as when
 *    the far end rebooted or a NAT forgot the flow. Only the client's own timeouts can
 *    notice.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type Direction = 'up' | 'down';

export interface FaultCounts {
  connections: number;
  resets: number;
  halfOpened: number;
  bytesUp: number;
  bytesDown: number;
}

export interface FaultProxy {
  port: number;
  /** `127.0.0.1:<port>` */
  address: string;
  latency(ms: number): void;
  /** Bytes per second per direction and connection; 0 = unlimited. */
  bandwidth(bytesPerSec: number): void;
  blackHole(): void;
  /**
   * The next chunk going `dir` ('up' = client to server) is cut in half and both sockets
   * reset. Resolves true once done, false when `heal()` came first.
   */
  resetMidFrame(dir?: Direction): Promise<boolean>;
  /** Closes the server side of every open connection; the client side stays open and mute. */
  halfOpen(): number;
  /** Every fault off: latency 0, no bandwidth cap, black hole lifted (held bytes go on), no reset armed. */
  heal(): void;
  readonly counts: FaultCounts;
  close(): Promise<void>;
}

interface Chunk {
  buf: Buffer;
  due: number;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  let latencyMs = 0;
  let bytesPerSec = 0;
  let holes = false;
  let healed: () => void = () => {};
  let healedP = Promise.resolve();
  const resetArmed: Record<Direction, ((fired: boolean) => void)[]> = { up: [], down: [] };
  const counts: FaultCounts = { connections: 0, resets: 0, halfOpened: 0, bytesUp: 0, bytesDown: 0 };
  const pairs = new Set<{ client: Socket; upstream: Socket; mute(): void }>();

  const server: Server = createServer((client) => {
    counts.connections++;
    const upstream = createConnection(target);
    let muted = false;
    const pair = {
      client,
      upstream,
      mute() {
        muted = true;
      },
    };
    pairs.add(pair);
    const reset = () => {
      counts.resets++;
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    };
    // One pump per direction: chunks leave in order, each after its latency, at the capped rate.
    const pipe = (from: Socket, to: Socket, dir: Direction) => {
      const queue: Chunk[] = [];
      let queued = 0;
      let pumping = false;
      const pump = async () => {
        pumping = true;
        try {
          while (queue.length > 0 && !to.destroyed) {
            while (holes) await healedP;
            const c = queue[0]!;
            const now = Date.now();
            if (c.due > now) await wait(c.due - now);
            if (holes) continue;
            queue.shift();
            queued -= c.buf.length;
            if (queued < 1 << 20 && from.isPaused()) from.resume();
            if (muted || to.destroyed) continue;
            const armed = resetArmed[dir].shift();
            if (armed) {
              to.write(c.buf.subarray(0, Math.max(1, c.buf.length >> 1)), () => {
                reset();
                armed(true);
              });
              return;
            }
            if (dir === 'up') counts.bytesUp += c.buf.length;
            else counts.bytesDown += c.buf.length;
            const bps = bytesPerSec;
            if (bps > 0) {
              // Slices of 1/20 s keep the rate smooth without a timer per byte.
              const slice = Math.max(1, Math.floor(bps / 20));
              for (let i = 0; i < c.buf.length; i += slice) {
                const part = c.buf.subarray(i, i + slice);
                if (!to.write(part)) await Promise.race([once(to, 'drain'), once(to, 'close')]).catch(() => {});
                await wait((part.length / bps) * 1000);
                if (to.destroyed) break;
              }
            } else if (!to.write(c.buf)) {
              await Promise.race([once(to, 'drain'), once(to, 'close')]).catch(() => {});
            }
          }
        } finally {
          pumping = false;
        }
      };
      from.on('data', (buf: Buffer) => {
        if (muted && dir === 'up') return;
        queue.push({ buf, due: Date.now() + latencyMs });
        queued += buf.length;
        if (queued >= 1 << 20) from.pause();
        if (!pumping) void pump();
      });
    };
    pipe(client, upstream, 'up');
    pipe(upstream, client, 'down');
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => {
      if (!muted) client.destroy();
    });
    client.on('close', () => {
      pairs.delete(pair);
      upstream.destroy();
    });
    upstream.on('close', () => {
      if (!muted) client.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;

  const heal = () => {
    for (const dir of ['up', 'down'] as const) for (const f of resetArmed[dir].splice(0)) f(false);
    latencyMs = 0;
    bytesPerSec = 0;
    if (holes) {
      holes = false;
      healed();
    }
  };
  return {
    port,
    address: `127.0.0.1:${port}`,
    latency(ms) {
      latencyMs = ms;
    },
    bandwidth(bps) {
      bytesPerSec = bps;
    },
    blackHole() {
      if (holes) return;
      holes = true;
      healedP = new Promise((r) => (healed = r));
    },
    resetMidFrame(dir = 'up') {
      return new Promise((resolve) => resetArmed[dir].push(resolve));
    },
    halfOpen() {
      let n = 0;
      for (const p of pairs) {
        if (p.upstream.destroyed) continue;
        p.mute();
        p.upstream.destroy();
        n++;
      }
      counts.halfOpened += n;
      return n;
    },
    heal,
    counts,
    async close() {
      heal();
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
