/**
 * Sockets that hold a connection without using it: raw TCP that sends nothing, a request
 * cut off mid-headers, an upgrade followed by silence (no hello, no answer to our close
 * frame). Each is closed within its bound, scaled down here (500 ms timeouts) and
 * asserted with a generous margin; Node's own sweep (every 30 s by default) would let
 * them live 10-40 s.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Op } from '../../protocol/index.js';
import { startHarness, type Harness } from './harness.js';
import { startKinesis, type Kinesis } from '../support/kinesis.js';
import { eventually, joins, TestClient } from './support.js';

const TIMEOUT_MS = 500;
const GRACE_MS = 200;
/** Far above the nominal bound (1.1 x 500 ms, or 500 + 200 ms), far below Node's 30 s sweep. */
const BOUND_MS = 5000;

let kinesis: Kinesis;
beforeAll(async () => {
  kinesis = await startKinesis();
});
afterAll(async () => {
  await kinesis.stop();
});

let h: Harness;
const sockets: Socket[] = [];
beforeEach(async () => {
  h = await startHarness(kinesis, { upgradeTimeoutMs: TIMEOUT_MS, helloTimeoutMs: TIMEOUT_MS, closeGraceMs: GRACE_MS });
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await h.stop();
});

/** A raw TCP connection to the gateway; resolves once connected, with the time it took the server to close it. */
async function raw(): Promise<{ socket: Socket; closedAfter: Promise<number> }> {
  const socket = connect(h.gw.port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  socket.resume(); // read (and drop) whatever the server sends, so its close arrives
  await once(socket, 'connect');
  const start = performance.now();
  const closedAfter = once(socket, 'close').then(() => performance.now() - start);
  return { socket, closedAfter };
}

async function allClosedWithin(closed: Promise<number>[]): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not every socket was closed within ${BOUND_MS} ms`)), BOUND_MS)));
  try {
    const times = await Promise.race([Promise.all(closed), deadline]);
    return Math.max(...times);
  } finally {
    clearTimeout(timer);
  }
}

describe('silent sockets', () => {
  it('closes raw TCP connections that send nothing', async () => {
    const conns = await Promise.all(Array.from({ length: 50 }, raw));
    const slowest = await allClosedWithin(conns.map((c) => c.closedAfter));
    expect(slowest).toBeLessThan(BOUND_MS);
    expect(slowest).toBeGreaterThanOrEqual(TIMEOUT_MS * 0.9); // closed by the timeout, not at once
  });

  it('closes connections whose request stops mid-headers', async () => {
    const conns = await Promise.all(Array.from({ length: 20 }, raw));
    for (const c of conns) c.socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n');
    await allClosedWithin(conns.map((c) => c.closedAfter));
  });

  it('closes an upgraded connection that sends no hello and ignores the close frame', async () => {
    const c = await raw();
    const key = randomBytes(16).toString('base64');
    const upgraded = new Promise<void>((resolve) => {
      let head = '';
      const onData = (d: Buffer) => {
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n')) {
          c.socket.off('data', onData);
          resolve();
        }
      };
      c.socket.on('data', onData);
    });
    c.socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await upgraded;
    // Then nothing: no hello, and the gateway's close frame is never answered.
    await allClosedWithin([c.closedAfter]);
    await eventually(() => h.gw.stats().connections === 0, BOUND_MS, 'the connection counted as closed');
  });

  it('leaves a working connection alone past the upgrade timeout', async () => {
    const { client } = await TestClient.hello(h.gw.url, 'srv-a');
    h.clients.push(client);
    // Two rounds of silent sockets, opened after it, closed by the timeout: the client has outlived it twice.
    for (let round = 0; round < 2; round++) {
      const conns = await Promise.all(Array.from({ length: 3 }, raw));
      await allClosedWithin(conns.map((x) => x.closedAfter));
    }
    client.sendBatch(1, joins(3));
    expect((await client.next(Op.Ack)).seq).toBe(1);
    expect(client.ws.readyState).toBe(client.ws.OPEN);
  });
});
