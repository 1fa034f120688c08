/**
 * The fault proxy itself (test/support/fault-proxy.ts), in front of an echo server: each
 * fault does what the chaos and failover tests rely on.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

let echo: Server | undefined;
let proxy: FaultProxy | undefined;
const serverSockets: Socket[] = [];
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  for (const s of serverSockets.splice(0)) s.destroy();
  if (echo) await new Promise((r) => echo!.close(r));
  echo = undefined;
});

async function setup(): Promise<{ p: FaultProxy; client: Socket; received: () => Buffer; closed: Promise<void> }> {
  let got = Buffer.alloc(0);
  let serverClosed: () => void = () => {};
  const closed = new Promise<void>((r) => (serverClosed = r));
  echo = createServer((s) => {
    serverSockets.push(s);
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      s.write(d);
    });
    s.on('error', () => {});
    s.on('close', () => serverClosed());
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const p = (proxy = await startFaultProxy({ host: '127.0.0.1', port: (echo.address() as { port: number }).port }));
  const client = createConnection({ host: '127.0.0.1', port: p.port });
  client.on('error', () => {});
  await once(client, 'connect');
  return { p, client, received: () => got, closed };
}

/** Resolves with the echoed bytes once `n` of them came back. */
function readBack(client: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const on = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= n) {
        client.off('data', on);
        resolve(buf);
      }
    };
    client.on('data', on);
  });
}

describe('fault proxy', () => {
  it('passes bytes through unchanged, with added latency each way', async () => {
    const { p, client } = await setup();
    p.latency(100);
    const t = Date.now();
    client.write('hello');
    expect((await readBack(client, 5)).toString()).toBe('hello');
    expect(Date.now() - t).toBeGreaterThanOrEqual(195);
  });

  it('caps the bandwidth', async () => {
    const { p, client } = await setup();
    p.bandwidth(128 * 1024);
    const t = Date.now();
    client.write(Buffer.alloc(64 * 1024, 7));
    const back = await readBack(client, 64 * 1024);
    expect(back.equals(Buffer.alloc(64 * 1024, 7))).toBe(true);
    // 64 KiB up and 64 KiB down at 128 KiB/s each: at least ~0.5 s, pipelined.
    expect(Date.now() - t).toBeGreaterThanOrEqual(450);
  });

  it('black hole: holds the bytes, and lets them through in order when healed', async () => {
    const { p, client, received } = await setup();
    p.blackHole();
    client.write('one ');
    client.write('two');
    const back = readBack(client, 7);
    await new Promise((r) => setTimeout(r, 100));
    const healedAt = Date.now();
    p.heal();
    expect((await back).toString()).toBe('one two');
    expect(received().toString()).toBe('one two');
    expect(Date.now()).toBeGreaterThanOrEqual(healedAt);
  });

  it('reset mid-frame: the server gets half of the chunk, then both sides are reset', async () => {
    const { p, client, received, closed } = await setup();
    const fired = p.resetMidFrame('up');
    let clientErr: unknown;
    client.on('error', (err) => (clientErr = err));
    const clientClosed = new Promise((r) => client.on('close', r));
    client.write(Buffer.alloc(1000, 1));
    expect(await fired).toBe(true);
    await closed;
    await clientClosed;
    expect(received().length).toBe(500);
    expect(p.counts.resets).toBe(1);
    expect(clientErr).toMatchObject({ code: 'ECONNRESET' });
  });

  it('half-open: the server side closes, the client side stays open and gets nothing', async () => {
    const { p, client, closed } = await setup();
    client.write('a');
    await readBack(client, 1);
    let clientEnded = false;
    client.on('end', () => (clientEnded = true));
    client.on('close', () => (clientEnded = true));
    expect(p.halfOpen()).toBe(1);
    await closed;
    // What the client sends now goes nowhere; the proxy's byte count shows it was swallowed.
    const before = p.counts.bytesUp;
    client.write('ignored');
    await new Promise((r) => setImmediate(r));
    expect(p.counts.bytesUp).toBe(before);
    expect(clientEnded).toBe(false);
    expect(client.destroyed).toBe(false);
  });
});
