/**
 * `cairn sidecar`'s bridge server over a real socket, against a real back end (gateway,
 * kinesalite, worker, Redis): samples in, gives and window-closed out; a bad line gets an
 * error naming its line and field and changes nothing; a reconnect resumes from the last
 * ack; a new sidecar on the same data folder plays its journal and sends unanswered gives again.
 */
import { lstatSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HuntRules } from '../../protocol/index.js';
import { CairnPlugin } from '../../plugin/cairn-plugin.js';
import { Sidecar } from '../../plugin/hosts/bridge-server.js';
import { testStack } from '../support/stack.js';
import { BridgeClient } from './support/bridge-client.js';

const T0 = 1_795_867_200_000;
const RULES: HuntRules = {
  id: 'side',
  name: 'Sidecar Hunt',
  window: '1s',
  treasures: [{ id: 'oak', region: 'r1', at: [0, 64, 0], radius: 2, prizes: [{ ranks: '1', item: 'gold_ingot', count: 5 }] }],
} as HuntRules;

let stack: Awaited<ReturnType<typeof testStack>>;
let dir: string;
const sidecars: Sidecar[] = [];
const clients: BridgeClient[] = [];

beforeEach(async () => {
  stack = await testStack();
  dir = mkdtempSync(join(tmpdir(), 'cairn-sidecar-'));
  mkdirSync(join(dir, 'hunts'));
  writeFileSync(join(dir, 'hunts', 'side.json'), JSON.stringify(RULES));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of sidecars.splice(0)) await s.close(1000);
  await stack.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function sidecar(clock: 'game' | 'wall' = 'game'): Promise<Sidecar> {
  const s = await Sidecar.start({
    dataDir: join(dir, 'data'),
    clock,
    listen: { host: '127.0.0.1', port: 0 },
    startPlugin: (host, dataDir) => CairnPlugin.start({ host, hunts: [RULES], dataDir, gatewayUrl: stack.gateway!.url, token: 'cairn-dev-token', autoFlush: clock === 'wall', flushIntervalMs: 100 }),
  });
  sidecars.push(s);
  return s;
}

async function client(s: Sidecar, boot = 'boot-1'): Promise<BridgeClient> {
  const c = await BridgeClient.connect(s.port);
  clients.push(c);
  c.send({ type: 'hello', v: 1, server: 'srv-a', boot, t: T0 });
  await c.next((m) => m.type === 'welcome');
  return c;
}

const join_ = (n: number, player: string, perms: string[] = []) => ({ n, t: T0 + n, type: 'join', player, perms });
const move = (n: number, player: string, at: number[]) => ({ n, t: T0 + n, type: 'move', player, region: 'r1', at });

describe('cairn sidecar bridge server', () => {
  it('turns the game\'s samples into a find, asks the game to give the prize, and reports the closed window', async () => {
    const s = await sidecar();
    const c = await client(s);
    c.send(join_(1, 'admin', ['cairn.admin']), join_(2, 'p1'), { n: 3, t: T0 + 3, type: 'command', player: 'admin', line: 'hunt start side' }, move(4, 'p1', [10, 64, 0]), move(5, 'p1', [1, 64, 0]), { n: 6, t: T0 + 1000, type: 'watermark' });
    expect((await c.next((m) => m.type === 'ack' && m.n === 6)).n).toBe(6);
    const give = await c.next((m) => m.type === 'give');
    expect(give).toEqual({ type: 'give', prize: 'side|treasure:oak:1', player: 'p1', item: 'gold_ingot', count: 5 });
    const closed = await c.next((m) => m.type === 'window-closed');
    expect(closed).toMatchObject({ hunt: 'side', end: T0 + 1000 });
    expect(await c.next((m) => m.type === 'tell' && m.player === 'p1' && String(m.text).includes('You won'))).toMatchObject({ text: expect.stringContaining('You won 5 x gold_ingot') });
    c.send({ type: 'given', prize: 'side|treasure:oak:1' });
    await vi.waitFor(() => expect(s.stats.answers).toBe(1));
    expect(s.cairn!.prizes()).toEqual([{ hunt: 'side', reason: 'treasure:oak:1', player: 'p1', server: 'srv-a', item: 'gold_ingot', count: 5, status: 'granted' }]);
  });

  it('runs on the wall clock for a live server: samples stamped by the game, flushes on the plugin\'s timer', async () => {
    const s = await sidecar('wall');
    const c = await client(s);
    const now = Date.now();
    c.send(
      { n: 1, t: now, type: 'join', player: 'admin', perms: ['cairn.admin'] },
      { n: 2, t: now, type: 'join', player: 'p1', perms: [] },
      { n: 3, t: now + 1, type: 'command', player: 'admin', line: 'hunt start side' },
      { n: 4, t: now + 2, type: 'move', player: 'p1', region: 'r1', at: [0, 64, 1] },
    );
    expect(await c.next((m) => m.type === 'give', 30_000)).toMatchObject({ prize: 'side|treasure:oak:1', player: 'p1' });
    expect(s.cairn!.stats().lateSamples).toBe(0);
  });

  it('listens on a Unix socket, and again on the same path after a kill left the socket file behind', async () => {
    const path = join(dir, 'cairn.sock');
    // What SIGKILL leaves: the socket file, with nothing listening on it.
    const child = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('up'))", path], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(child.stdout!, 'data');
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(lstatSync(path).isSocket()).toBe(true);
    await expect(new Promise((resolve, reject) => connect(path).once('connect', resolve).once('error', reject))).rejects.toThrow(/ECONNREFUSED/);
    const s = await Sidecar.start({
      dataDir: join(dir, 'data'),
      clock: 'game',
      listen: { path },
      startPlugin: (host, dataDir) => CairnPlugin.start({ host, hunts: [RULES], dataDir, gatewayUrl: stack.gateway!.url, token: 'cairn-dev-token', autoFlush: false }),
    });
    sidecars.push(s);
    expect(s.address).toBe(path);
    const sock = connect(path);
    await once(sock, 'connect');
    sock.write(`${JSON.stringify({ type: 'hello', v: 1, server: 'srv-a', boot: 'b' })}\n`);
    const [data] = (await once(sock, 'data')) as [Buffer];
    expect(JSON.parse(data.toString().split('\n')[0]!)).toMatchObject({ type: 'welcome', acked: 0 });
    sock.destroy();
  });

  it('refuses a bad line with its line number and field, closes, and leaves the plugin as it was', async () => {
    const s = await sidecar();
    const c = await client(s);
    c.send(join_(1, 'p1'), move(2, 'p1', [1, 2]));
    const err = await c.next((m) => m.type === 'error');
    expect(err).toMatchObject({ code: 'CAIRN_ERR_FRAME_INVALID', line: 3, field: 'at' });
    expect(String(err.message)).toContain('must be [x, y, z]');
    await c.waitClosed();
    expect(s.cairn!.stats().samples).toBe(1);
    // The game reconnects and resumes after the last line the sidecar acked.
    const c2 = await client(s);
    expect(c2.received[0]).toMatchObject({ type: 'welcome', acked: 1 });
    c2.send(move(2, 'p1', [1, 2, 3]));
    await c2.next((m) => m.type === 'ack' && m.n === 2);
    expect(s.cairn!.stats().samples).toBe(2);
  });

  it.each([
    ['not JSON', '{"type":', undefined, 'not JSON'],
    ['an unknown type', { type: 'teleport' }, 'type', 'unknown type'],
    ['a player id with spaces', { n: 1, t: T0, type: 'join', player: 'a b', perms: [] }, 'player', 'must match'],
    ['a gap in the numbering', { n: 5, t: T0, type: 'leave', player: 'p1' }, 'n', 'expected n=1'],
    ['a non-integer time', { n: 1, t: 1.5, type: 'leave', player: 'p1' }, 't', 'integer'],
  ])('names what is wrong with %s', async (_what, line, field, text) => {
    const s = await sidecar();
    const c = await client(s);
    c.send(line);
    const err = await c.next((m) => m.type === 'error');
    expect(err.line).toBe(2);
    expect(err.field).toBe(field);
    expect(String(err.message)).toContain(text);
    await c.waitClosed();
  });

  it('takes a player\'s changed permission nodes without ending the session', async () => {
    const s = await sidecar();
    const c = await client(s);
    c.send(join_(1, 'mod'), { n: 2, t: T0 + 2, type: 'command', player: 'mod', line: 'hunt start side' });
    await c.next((m) => m.type === 'ack' && m.n === 2);
    expect(s.cairn!.stats().deniedCommands).toBe(1);
    c.send({ n: 3, t: T0 + 3, type: 'perms', player: 'mod', perms: ['cairn.admin'] }, { n: 4, t: T0 + 4, type: 'command', player: 'mod', line: 'hunt start side' });
    await c.next((m) => m.type === 'ack' && m.n === 4);
    expect(s.cairn!.stats().deniedCommands).toBe(1);
    expect(s.stats.samples).toBe(3);
  });

  it('wants a hello first, in a version it speaks', async () => {
    const s = await sidecar();
    const c = await BridgeClient.connect(s.port);
    clients.push(c);
    c.send(join_(1, 'p1'));
    expect(await c.next((m) => m.type === 'error')).toMatchObject({ code: 'CAIRN_ERR_HELLO_REQUIRED', line: 1 });
    const c2 = await BridgeClient.connect(s.port);
    clients.push(c2);
    c2.send({ type: 'hello', v: 2, server: 'srv-a', boot: 'b' });
    expect(await c2.next((m) => m.type === 'error')).toMatchObject({ code: 'CAIRN_ERR_PROTOCOL_VERSION', field: 'v', line: 1 });
  });

  it('skips lines sent again after a reconnect', async () => {
    const s = await sidecar();
    const c = await client(s);
    c.send(join_(1, 'p1'), move(2, 'p1', [5, 64, 5]), move(3, 'p1', [6, 64, 5]));
    await c.next((m) => m.type === 'ack' && m.n === 3);
    c.close();
    const c2 = await client(s);
    expect(c2.received[0]).toMatchObject({ acked: 3 });
    c2.send(move(2, 'p1', [5, 64, 5]), move(3, 'p1', [6, 64, 5]), move(4, 'p1', [7, 64, 5]));
    await c2.next((m) => m.type === 'ack' && m.n === 4);
    expect(s.stats.duplicates).toBe(2);
    expect(s.cairn!.stats().samples).toBe(4);
  });

  it('numbers lines without n (moves in the trace format) as the next line, also when it plays its journal', async () => {
    const s = await sidecar();
    const c = await client(s);
    const traceMove = (t: number, x: number) => `{"t":${t},"server":"srv-a","type":"move","player":"p1","region":"r1","at":[${x},64,0.5]}`;
    c.send(join_(1, 'p1'), traceMove(T0 + 2, 5), traceMove(T0 + 3, 6), { t: T0 + 4, type: 'move', player: 'p1', region: 'r1', at: [7, 64, 0] }, { n: 5, t: T0 + 5, type: 'leave', player: 'p1' });
    await c.next((m) => m.type === 'ack' && m.n === 5);
    expect(s.cairn!.stats().samples).toBe(5);
    c.close();
    await s.close(2000);
    sidecars.splice(sidecars.indexOf(s), 1);
    const s2 = await sidecar();
    const c2 = await client(s2);
    expect(c2.received[0]).toMatchObject({ type: 'welcome', acked: 5 });
    expect(s2.stats.journalReplayed).toBe(5);
    c2.send({ n: 7, t: T0 + 7, type: 'leave', player: 'p1' });
    expect(await c2.next((m) => m.type === 'error')).toMatchObject({ field: 'n', message: expect.stringContaining('expected n=6') });
  });

  it('a new sidecar on the same data folder plays the journal and sends an unanswered give again', async () => {
    const s = await sidecar();
    const c = await client(s);
    c.send(join_(1, 'admin', ['cairn.admin']), join_(2, 'p1'), { n: 3, t: T0 + 3, type: 'command', player: 'admin', line: 'hunt start side' }, move(4, 'p1', [1, 64, 0]), { n: 5, t: T0 + 1000, type: 'watermark' });
    await c.next((m) => m.type === 'window-closed');
    c.close();
    await s.close(2000);
    sidecars.splice(sidecars.indexOf(s), 1);

    const s2 = await sidecar();
    const c2 = await client(s2);
    expect(c2.received[0]).toMatchObject({ type: 'welcome', acked: 5, closed: { side: { end: T0 + 1000 } } });
    expect(s2.stats.journalReplayed).toBe(5);
    // The give was never answered: it comes again, with the same prize id.
    expect(await c2.next((m) => m.type === 'give')).toMatchObject({ prize: 'side|treasure:oak:1', player: 'p1' });
    // The journal rebuilt who is online with which permissions: the admin can stop the hunt.
    c2.send({ n: 6, t: T0 + 1100, type: 'command', player: 'admin', line: 'hunt stop side' });
    await c2.next((m) => m.type === 'ack' && m.n === 6);
    expect(s2.cairn!.stats().deniedCommands).toBe(0);
  });
});
