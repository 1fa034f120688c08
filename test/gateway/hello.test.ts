/**
 * The WebSocket edge: hello, authentication, version, fencing, bad frames, replacement,
 * liveness. Every refusal closes only the offending connection: a healthy client
 * connected beforehand keeps getting acks.
 */
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { beforeEach, describe, expect } from 'vitest';
import { WebSocket } from 'ws';
import { CloseCode, encode, ErrorCode, MAX_FRAME_BYTES, Op, PROTOCOL_VERSION } from '../../protocol/index.js';
import { MAX_FRAGMENTS } from '../../gateway/server.js';
import { gatewayTest as it, type GatewayFixtures } from '../support/fixtures.js';
import type { Harness } from './harness.js';
import { eventually, joins, TestClient, TOKEN } from './support.js';

let h: Harness;
beforeEach<GatewayFixtures>(async ({ gateway }) => {
  h = await gateway();
});

async function healthy(server = 'srv-healthy'): Promise<TestClient> {
  const { client } = await TestClient.hello(h.gw.url, server);
  h.clients.push(client);
  return client;
}

async function connect2(): Promise<TestClient> {
  const c = await TestClient.connect(h.gw.url);
  h.clients.push(c);
  return c;
}

/** The healthy client still gets its batches acked. */
async function stillWorks(c: TestClient, seq: number): Promise<void> {
  c.sendBatch(seq, joins(3, seq * 10));
  expect((await c.next(Op.Ack)).seq).toBe(seq);
}

describe('hello', () => {
  it('welcomes a server with the right token, durable 0 for a new epoch', async () => {
    const { client, durable } = await TestClient.hello(h.gw.url, 'srv-a', 1);
    h.clients.push(client);
    expect(durable).toBe(0);
    expect(h.gw.stats().connections).toBe(1);
    expect(await h.redis.hget(h.keys.servers(), 'srv-a')).toBe('1');
  });

  const refusals: { name: string; send(c: TestClient): void; close: number; code?: string }[] = [
    { name: 'a wrong token', send: (c) => c.sendMsg({ op: Op.Hello, v: PROTOCOL_VERSION, server: 'srv-x', epoch: 1, token: 'nope' }), close: CloseCode.AuthFailed, code: ErrorCode.AuthFailed },
    { name: 'an empty token', send: (c) => c.sendMsg({ op: Op.Hello, v: PROTOCOL_VERSION, server: 'srv-x', epoch: 1, token: '' }), close: CloseCode.AuthFailed, code: ErrorCode.AuthFailed },
    { name: 'a wrong protocol version', send: (c) => c.sendMsg({ op: Op.Hello, v: PROTOCOL_VERSION + 1, server: 'srv-x', epoch: 1, token: TOKEN }), close: CloseCode.ProtocolVersion, code: ErrorCode.ProtocolVersion },
    { name: 'a batch before any hello', send: (c) => c.sendBatch(1, joins(1)), close: CloseCode.HelloRequired, code: ErrorCode.HelloRequired },
    { name: 'a prize-ack before any hello', send: (c) => c.sendMsg({ op: Op.PrizeAck, ids: ['1-0'] }), close: CloseCode.HelloRequired, code: ErrorCode.HelloRequired },
    { name: 'a hello with an invalid server id', send: (c) => c.sendMsg({ op: Op.Hello, v: PROTOCOL_VERSION, server: 'has space', epoch: 1, token: TOKEN }), close: CloseCode.HelloRequired, code: ErrorCode.HelloRequired },
    { name: 'garbage bytes (truncated msgpack)', send: (c) => c.ws.send(Buffer.from([0x93, 0x01, 0x02])), close: CloseCode.FrameInvalid, code: ErrorCode.FrameInvalid },
    { name: 'a msgpack value that is not a message', send: (c) => c.ws.send(Buffer.from([0x2a])), close: CloseCode.FrameInvalid, code: ErrorCode.FrameInvalid },
    { name: 'an unknown op', send: (c) => c.sendMsg({ op: 99 }), close: CloseCode.FrameInvalid, code: ErrorCode.FrameInvalid },
    { name: 'a text frame', send: (c) => c.ws.send('{"op":1}'), close: CloseCode.FrameInvalid, code: ErrorCode.FrameInvalid },
    // ws enforces maxPayload before the gateway sees the frame and closes with 1009 (RFC 6455 "message too big").
    { name: 'a frame over MAX_FRAME_BYTES', send: (c) => c.ws.send(Buffer.alloc(MAX_FRAME_BYTES + 1, 0xc0)), close: 1009 },
  ];

  for (const r of refusals) {
    it(`closes a connection that sends ${r.name} with ${r.close}, and only that one`, async () => {
      const ok = await healthy();
      const bad = await connect2();
      r.send(bad);
      const closed = await bad.closed;
      expect(closed.code).toBe(r.close);
      if (r.code) {
        const err = await bad.next(Op.Error, 1000);
        expect(err.code).toBe(r.code);
        expect(err.message.length).toBeGreaterThan(5);
        expect(closed.reason.length).toBeGreaterThan(0);
      }
      await stillWorks(ok, 1);
      expect(h.gw.stats().connections).toBe(1);
    });
  }

  it('refuses a protocol 1 hello with 4002 and a reason naming both versions', async () => {
    const old = await connect2();
    old.sendMsg({ op: Op.Hello, v: 1, server: 'srv-old', epoch: 1, token: TOKEN });
    const closed = await old.closed;
    expect(closed.code).toBe(CloseCode.ProtocolVersion);
    const err = await old.next(Op.Error, 1000);
    expect(err.code).toBe(ErrorCode.ProtocolVersion);
    expect(err.message).toMatch(/protocol version 1 .*version 2/);
  });

  it('refuses a batch with a key twice (4000), naming the key', async () => {
    const { client } = await TestClient.hello(h.gw.url, 'srv-dup', 1);
    const mp = (v: unknown) => encode(v as object);
    client.ws.send(Buffer.concat([Buffer.from([0x85]), mp('op'), mp(Op.Batch), mp('seq'), mp(1), mp('wm'), mp(5), mp('ev'), mp([]), mp('ev'), mp([{ k: 'leave', e: 1, n: 1, t: 'nope', p: 'x'.repeat(300) }])]));
    expect((await client.closed).code).toBe(CloseCode.FrameInvalid);
    const err = await client.next(Op.Error, 1000);
    expect(err).toMatchObject({ code: ErrorCode.FrameInvalid, message: expect.stringMatching(/duplicate map key "ev"/) });
    expect(h.gw.stats().batches).toBe(0);
  });

  it('closes a connection that floods tiny fragments (1008), and only that one', async () => {
    const ok = await healthy();
    const bad = await connect2();
    // Masked 1-byte frames: a binary frame without FIN, then continuations without FIN.
    const frame = (opcode: number) => Buffer.from([opcode, 0x81, 0, 0, 0, 0, 0x2a]);
    const flood = Buffer.concat([frame(0x02), ...Array.from({ length: MAX_FRAGMENTS + 10 }, () => frame(0x00))]);
    (bad.ws as unknown as { _socket: import('node:net').Socket })._socket.write(flood);
    expect((await bad.closed).code).toBe(1008);
    await stillWorks(ok, 1);
    await eventually(() => h.gw.stats().badFrames === 1, 2000, 'bad frame counted');
  });

  it('counts refused frames', async () => {
    const bad = await connect2();
    bad.ws.send(Buffer.from([0x93]));
    await bad.closed;
    await eventually(() => h.gw.stats().badFrames === 1, 2000, 'badFrames = 1');
    const text = await h.registry.getSingleMetricAsString('cairn_gateway_bad_frames_total');
    expect(text).toContain(`code="${ErrorCode.FrameInvalid}"`);
  });

  it('closes a connection that sends no hello in time', async ({ gateway }) => {
    await h.stop();
    h = await gateway({ helloTimeoutMs: 150 });
    const c = await connect2();
    expect((await c.closed).code).toBe(CloseCode.HelloRequired);
  });

  it('closes a connection that sends a bad frame after its hello; other servers carry on', async () => {
    const ok = await healthy();
    const { client: bad } = await TestClient.hello(h.gw.url, 'srv-bad');
    h.clients.push(bad);
    bad.sendBatch(1, joins(2));
    await bad.next(Op.Ack);
    bad.sendMsg({ op: Op.Batch, seq: 2, wm: 'soon', ev: [] });
    expect((await bad.closed).code).toBe(CloseCode.FrameInvalid);
    expect((await bad.next(Op.Error, 1000)).message).toMatch(/batch\.wm/);
    await stillWorks(ok, 1);
  });

  it('refuses a prize-ack whose ids are not delivery ids', async () => {
    const ok = await healthy();
    const { client } = await TestClient.hello(h.gw.url, 'srv-a');
    h.clients.push(client);
    client.sendMsg({ op: Op.PrizeAck, ids: ['1-0', 'nope'] });
    expect((await client.closed).code).toBe(CloseCode.FrameInvalid);
    expect((await client.next(Op.Error, 1000)).message).toMatch(/"nope" is not a delivery id/);
    await stillWorks(ok, 1);
  });

  it('refuses a second hello on the same connection', async () => {
    const { client } = await TestClient.hello(h.gw.url, 'srv-a');
    h.clients.push(client);
    client.sendMsg({ op: Op.Hello, v: PROTOCOL_VERSION, server: 'srv-a', epoch: 1, token: TOKEN });
    expect((await client.closed).code).toBe(CloseCode.FrameInvalid);
  });
});

describe('epochs', () => {
  it('refuses a hello whose epoch is older than one seen for the server (here or in Redis)', async () => {
    const { client: cur } = await TestClient.hello(h.gw.url, 'srv-a', 5);
    h.clients.push(cur);
    const old = await connect2();
    old.sendMsg({ op: Op.Hello, v: PROTOCOL_VERSION, server: 'srv-a', epoch: 4, token: TOKEN });
    expect((await old.closed).code).toBe(CloseCode.StaleEpoch);
    expect((await old.next(Op.Error, 1000)).code).toBe(ErrorCode.StaleEpoch);
    await stillWorks(cur, 1);
    // Still refused once epoch 5 has gone: the newest epoch is in Redis.
    cur.close();
    await cur.closed;
    const old2 = await connect2();
    old2.sendMsg({ op: Op.Hello, v: PROTOCOL_VERSION, server: 'srv-a', epoch: 4, token: TOKEN });
    expect((await old2.closed).code).toBe(CloseCode.StaleEpoch);
    expect(h.gw.stats().staleEpochs).toBe(2);
  });

  it('fences a stale instance still connected to another gateway: its next batch is not acked', async () => {
    const gw2 = await h.second();
    const { client: stale } = await TestClient.hello(h.gw.url, 'srv-a', 1);
    h.clients.push(stale);
    stale.sendBatch(1, joins(1));
    await stale.next(Op.Ack);
    const { client: fresh } = await TestClient.hello(gw2.url, 'srv-a', 2);
    h.clients.push(fresh);
    stale.sendBatch(2, joins(1, 1));
    expect((await stale.closed).code).toBe(CloseCode.StaleEpoch);
    expect(stale.messages.some((m) => m.op === Op.Ack)).toBe(false);
    await stillWorks(fresh, 1);
  });

  it('a newer connection of the same server replaces the old one', async () => {
    const { client: first } = await TestClient.hello(h.gw.url, 'srv-a', 1);
    h.clients.push(first);
    first.sendBatch(1, joins(2));
    await first.next(Op.Ack);
    const { client: second, durable } = await TestClient.hello(h.gw.url, 'srv-a', 1);
    h.clients.push(second);
    expect(durable).toBe(1);
    expect((await first.closed).code).toBe(CloseCode.Replaced);
    await stillWorks(second, 2);
    await eventually(() => h.gw.stats().connections === 1, 2000, 'one connection');
  });
});

describe('HTTP upgrade', () => {
  it('refuses an upgrade with a wrong bearer token (401) and accepts the right one', async () => {
    const ws = new WebSocket(h.gw.url, { headers: { authorization: 'Bearer wrong' } });
    ws.on('error', () => {});
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(res.statusCode).toBe(401);
    ws.terminate();
    const good = await TestClient.connect(h.gw.url, { authorization: `Bearer ${TOKEN}` });
    h.clients.push(good);
    good.sendMsg({ op: Op.Hello, v: PROTOCOL_VERSION, server: 'srv-a', epoch: 1, token: TOKEN });
    await good.next(Op.Welcome);
    expect(h.gw.stats().authFailures).toBe(1);
  });

  it('answers 2,000 headers with 431 and keeps serving others', async () => {
    const ok = await healthy();
    const sock = connect(h.gw.port, '127.0.0.1');
    await once(sock, 'connect');
    let head = `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n`;
    for (let i = 0; i < 2000; i++) head += `x-h${i}: ${i}\r\n`;
    sock.write(`${head}\r\n`);
    let reply = '';
    sock.on('data', (d) => (reply += d.toString()));
    sock.on('error', () => {});
    await once(sock, 'close');
    expect(reply).toMatch(/^HTTP\/1\.1 431/);
    await stillWorks(ok, 1);
  });

  it('serves /healthz, /readyz and /metrics on the same port', async () => {
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port: h.gw.port, path }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
          .on('error', reject)
          .end();
      });
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    const c = await healthy();
    await stillWorks(c, 1);
    const m = await get('/metrics');
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/^cairn_gateway_batches_total 1$/m);
    expect(m.body).toMatch(/^cairn_gateway_connections 1$/m);
    expect(m.body).toContain('cairn_gateway_kinesis_put_duration_seconds_bucket');
    expect((await get('/nope')).status).toBe(404);
  });
});

describe('liveness', () => {
  it('terminates a connection that stops answering pings', async ({ gateway }) => {
    await h.stop();
    h = await gateway({ pingIntervalMs: 100 });
    const ok = await healthy();
    let pings = 0;
    ok.ws.on('ping', () => pings++);
    const ws = new WebSocket(h.gw.url, { autoPong: false });
    ws.on('error', () => {});
    await once(ws, 'open');
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(1006); // terminated: no close frame
    // Several more ping rounds: the answering client stays.
    const seen = pings;
    await eventually(() => pings >= seen + 3, 5000, 'three more pings to the answering client');
    await stillWorks(ok, 1);
  });
});
