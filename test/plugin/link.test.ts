import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Cap, CloseCode, ErrorCode, PROTOCOL_VERSION, type CairnError, type DeltaEvent, type DiscreteEvent, type WireEvent } from '../../protocol/index.js';
import { FakeGateway, until } from './support/fake-gateway.js';
import { gatewayUrls } from '../../plugin/link.js';
import { harness, type Harness } from './support/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  vi.useRealTimers();
  await h.cleanup();
});

const discrete = (evs: WireEvent[]) => evs.filter((e): e is DiscreteEvent => e.k !== 'delta');

describe('link: hello and welcome', () => {
  it('opens with a hello carrying op, protocol version, server id, epoch, token and the features it takes', async () => {
    const p = await h.start();
    expect(h.gw.hellos).toEqual([{ op: 1, v: PROTOCOL_VERSION, server: 'srv-a', epoch: p.epoch, token: 'test-token', caps: [Cap.Prizes] }]);
    expect(p.serverId).toBe('srv-a');
    expect(p.epoch).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) - 5);
  });

  it('a restarted plugin says hello with a larger epoch', async () => {
    const a = await h.start();
    await a.stop(1000);
    const b = await h.start();
    expect(b.epoch).toBeGreaterThan(a.epoch);
    expect(h.gw.hellos.map((x) => x.epoch)).toEqual([a.epoch, b.epoch]);
  });
});

describe('link: outbox, resend and acks', () => {
  it('resends every unacked batch, byte for byte and in order, after the gateway drops the connection', async () => {
    const p = await h.start();
    h.gw.autoAck = false;
    p.flush();
    h.host.clock += 10;
    p.accept({ type: 'join', t: h.host.clock, player: 'p1' });
    p.flush();
    await until(() => h.gw.batches.length === 2, 'two batches');
    expect(h.gw.batches.map((b) => [b.seq, b.conn])).toEqual([
      [1, 1],
      [2, 1],
    ]);
    let drained = false;
    const drain = p.drain().then(() => (drained = true));
    h.gw.dropAll();
    await until(() => h.gw.batches.length === 4, 'the resend');
    const again = h.gw.batches.slice(2);
    expect(again.map((b) => [b.seq, b.conn])).toEqual([
      [1, 2],
      [2, 2],
    ]);
    expect(again[0]!.bytes.equals(h.gw.batches[0]!.bytes)).toBe(true);
    expect(again[1]!.bytes.equals(h.gw.batches[1]!.bytes)).toBe(true);
    expect(drained).toBe(false);
    h.gw.ack(2);
    await drain;
    expect(p.stats()).toMatchObject({ reconnects: 1, batchesFormed: 2, batchesSent: 4, acks: 1, outboxBatches: 0 });
  });

  it('an ack removes every batch up to its seq; welcome.durable drops batches already durable', async () => {
    const p = await h.start();
    h.gw.autoAck = false;
    for (let k = 0; k < 4; k++) {
      h.host.clock += 10;
      p.accept({ type: 'join', t: h.host.clock, player: `p${k}` });
      p.flush();
    }
    await until(() => h.gw.batches.length === 4, 'four batches');
    h.gw.ack(1);
    await until(() => p.stats().outboxBatches === 3, 'ack of 1');
    h.gw.durableOverride = 3; // the gateway made 2 and 3 durable but the acks were lost
    h.gw.dropAll();
    await until(() => h.gw.batches.some((b) => b.conn === 2), 'the resend');
    await new Promise((r) => setTimeout(r, 50));
    expect(h.gw.batches.filter((b) => b.conn === 2).map((b) => b.seq)).toEqual([4]);
    expect(p.stats().outboxBatches).toBe(1);
  });

  it('numbers discrete events 1, 2, 3... in this epoch and sends the rules of every hunt first', async () => {
    const p = await h.start();
    const t0 = h.host.clock;
    p.accept({ type: 'join', t: t0 + 1, player: 'p1' });
    p.accept({ type: 'move', t: t0 + 2, player: 'p1', region: 'r1', at: [10, 64, -20] });
    p.accept({ type: 'leave', t: t0 + 3, player: 'p1' });
    h.host.clock = t0 + 5;
    p.flush();
    await p.drain();
    const evs = discrete(h.gw.events());
    expect(evs.map((e) => [e.k, e.e, e.n, e.t])).toEqual([
      ['rules', p.epoch, 1, t0],
      ['rules', p.epoch, 2, t0],
      ['join', p.epoch, 3, t0 + 1],
      ['enter', p.epoch, 4, t0 + 2],
      ['leave', p.epoch, 5, t0 + 3],
    ]);
    expect(evs[0]).toMatchObject({ hunt: 'spring', rules: { id: 'spring' } });
    expect(evs[2]).toEqual({ k: 'join', e: p.epoch, n: 3, t: t0 + 1, p: 'p1', i: 1 });
    expect(evs[3]).toEqual({ k: 'enter', e: p.epoch, n: 4, t: t0 + 2, p: 'p1', hunt: 'spring', tr: 'oak', region: 'r1', at: [10, 64, -20] });
  });
});

describe('link: watermarks', () => {
  it('when a flush makes several batches, only the last carries the new watermark', async () => {
    const p = await h.start({ batchMaxEvents: 2 });
    const t0 = h.host.clock;
    p.flush(); // rules events, wm = t0
    for (let k = 0; k < 5; k++) p.accept({ type: 'join', t: t0 + 1 + k, player: `p${k}` });
    h.host.clock = t0 + 100;
    p.flush();
    await p.drain();
    const got = h.gw.unique().map((b) => [b.seq, b.wm, b.ev.length]);
    expect(got).toEqual([
      [1, t0, 2],
      [2, t0, 2],
      [3, t0, 2],
      [4, t0 + 100, 1],
    ]);
  });

  it('a forced flush sends an empty batch only when the watermark advanced; watermarks never go back', async () => {
    const p = await h.start();
    const t0 = h.host.clock;
    p.flush({ force: true });
    p.flush({ force: true }); // same time: nothing new to say
    h.host.clock = t0 - 50; // a host clock that stepped back
    p.accept({ type: 'join', t: t0 - 50, player: 'late' });
    p.flush({ force: true });
    h.host.clock = t0 + 20;
    p.flush({ force: true });
    await p.drain();
    expect(h.gw.unique().map((b) => [b.wm, b.ev.length])).toEqual([
      [t0, 2],
      [t0, 1],
      [t0 + 20, 0],
    ]);
    expect(p.stats().lateSamples).toBe(1);
  });

  it('an idle plugin sends a heartbeat every heartbeatMs so its watermark advances', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const p = await h.start({ autoFlush: true, flushIntervalMs: 250, heartbeatMs: 1000 });
    const t0 = h.host.clock;
    for (let k = 0; k < 9; k++) {
      h.host.clock += 250;
      vi.advanceTimersByTime(250);
    }
    await until(() => h.gw.batches.length >= 3, 'heartbeats');
    await new Promise((r) => setTimeout(r, 30));
    // A timer flush claims the millisecond before now: samples can still arrive stamped now.
    expect(h.gw.batches.map((b) => [b.wm - t0, b.ev.length])).toEqual([
      [249, 2], // the rules events
      [1249, 0],
      [2249, 0],
    ]);
    await p.drain();
  });
});

describe('link: backpressure', () => {
  it('while the gateway is away, deltas are merged but every discrete event arrives exactly once', async () => {
    // 7 KiB (protocol 2's moves blocks are small): crossed on the third round, after two rounds of deltas sit in unsent batches
    const p = await h.start({ outboxMaxBytes: 7 * 1024, batchMaxEvents: 50 });
    p.flush();
    await p.drain();
    h.gw.autoWelcome = false;
    h.gw.dropAll();
    await until(() => h.gw.hellos.length === 2, 'the reconnect hello');

    const players = 40;
    const last = new Map<string, [number, number, number]>();
    let enters = 0;
    let t = h.host.clock;
    for (let k = 0; k < players; k++) p.accept({ type: 'join', t: ++t, player: `p${k}` });
    for (let round = 0; round < 60; round++) {
      for (let k = 0; k < players; k++) {
        // in and out of the oak treasure (r1, [10, 64, -20], radius 3) every other round
        const inside = round % 2 === 0;
        const at: [number, number, number] = inside ? [10 + k * 0.01, 64, -20] : [30 + round, 64 + k, -20];
        if (inside) enters++;
        p.accept({ type: 'move', t: ++t, player: `p${k}`, region: 'r1', at });
        last.set(`p${k}`, at);
      }
      h.host.clock = t;
      p.flush();
    }
    expect(p.stats().outboxBytes).toBeGreaterThan(7 * 1024);
    let capacity = false;
    const wait = p.waitForCapacity().then(() => (capacity = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(capacity).toBe(false);
    // crossing the bound merged the deltas already in unsent batches...
    expect(p.stats().deltasMerged).toBeGreaterThanOrEqual(players);
    // ...and since then new deltas wait in the coalescer (latest state only), out of the outbox
    expect(p.stats().deltasSent).toBeLessThanOrEqual(players * 3);

    h.gw.welcomeNow();
    await wait;
    h.host.clock = ++t;
    p.flush({ force: true });
    await p.drain();
    // The discrete events past the bound went through the spill file; deltas waited in the
    // coalescer until it was sent to its end, and leave with the next flush.
    expect(p.stats().spilledEvents).toBeGreaterThan(0);
    h.host.clock = ++t;
    p.flush({ force: true });
    await p.drain();

    const evs = h.gw.events();
    const ns = discrete(evs).map((e) => e.n);
    expect(ns).toEqual(ns.map((_, k) => k + 1)); // 1..N, none lost, none twice
    expect(discrete(evs).filter((e) => e.k === 'enter')).toHaveLength(enters);
    expect(discrete(evs).filter((e) => e.k === 'join')).toHaveLength(players);
    // the coalesced state still ends at every player's last position
    const joins = new Map(discrete(evs).flatMap((e) => (e.k === 'join' ? [[e.i, e.p] as const] : [])));
    const state = new Map<string, [number, number, number]>();
    for (const d of evs.filter((e): e is DeltaEvent => e.k === 'delta')) {
      const pl = joins.get(d.i)!;
      const s = state.get(pl) ?? [NaN, NaN, NaN];
      state.set(pl, [d.x ?? s[0], d.y ?? s[1], d.z ?? s[2]]);
    }
    for (const [pl, at] of last) expect(state.get(pl)).toEqual(at.map((v) => Math.round(v * 20) / 20));
    const deltasSent = p.stats().deltasSent;
    expect(deltasSent).toBeLessThan(players * 60); // far fewer than one per sample
  });
});

describe('link: errors', () => {
  it('a refused first connection (bad token) rejects start with the code, and does not retry in a loop', async () => {
    h.gw.refuseWith = { code: CloseCode.AuthFailed, reason: 'bad token' };
    await expect(h.start()).rejects.toMatchObject({ code: ErrorCode.AuthFailed });
    await new Promise((r) => setTimeout(r, 150));
    expect(h.gw.connections).toBe(1);
  });

  it('after start, a stale-epoch close is reported with an error event and retried only slowly', async () => {
    const p = await h.start({ link: { backoffBaseMs: 10, backoffCapMs: 400 } });
    const errors: CairnError[] = [];
    p.on('error', (e: CairnError) => errors.push(e));
    h.gw.refuseWith = { code: CloseCode.StaleEpoch, reason: 'stale epoch' };
    h.gw.dropAll();
    await until(() => errors.length === 1, 'the error event');
    expect(errors[0]!.code).toBe(ErrorCode.StaleEpoch);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.gw.connections).toBe(2); // no hot loop: the next try waits the cap
    h.gw.refuseWith = undefined;
    await until(() => h.gw.hellos.length === 3, 'recovery', 2000);
    p.flush({ force: true });
    await p.drain();
  });

  it('without an error listener, a refusal is logged and does not throw', async () => {
    const p = await h.start({ link: { backoffBaseMs: 10, backoffCapMs: 400 } });
    h.gw.refuseWith = { code: CloseCode.AuthFailed, reason: 'token rotated' };
    h.gw.dropAll();
    await until(() => h.gw.connections === 2, 'the refused reconnect');
    await new Promise((r) => setTimeout(r, 20));
    expect(p.stats().reconnects).toBe(1);
  });
});

describe('plugin: samples and stop', () => {
  it('bad samples are counted, not thrown', async () => {
    const p = await h.start();
    const bad: unknown[] = [
      null,
      { type: 'move', t: 1, player: 'p1', region: 'r1', at: [1, 2] },
      { type: 'move', t: Number.NaN, player: 'p1', region: 'r1', at: [1, 2, 3] },
      { type: 'join', t: 5, player: 'has spaces' },
      { type: 'teleport', t: 5, player: 'p1' },
      { type: 'move', t: 5, player: 'p1', region: 'r1', at: [1, Infinity, 3] },
    ];
    for (const s of bad) expect(() => p.accept(s as never)).not.toThrow();
    expect(p.stats()).toMatchObject({ samples: bad.length, badSamples: bad.length });
  });

  it('a move from a player the plugin never saw join opens a session (join event with an index)', async () => {
    const p = await h.start();
    p.accept({ type: 'move', t: h.host.clock + 1, player: 'old-timer', region: 'r9', at: [0, 0, 0] });
    h.host.clock += 2;
    p.flush();
    await p.drain();
    const evs = h.gw.events();
    expect(evs.find((e) => e.k === 'join')).toMatchObject({ p: 'old-timer', i: 1 });
    expect(evs.find((e) => e.k === 'delta')).toMatchObject({ i: 1, region: 'r9', x: 0, y: 0, z: 0 });
  });

  it('marks an entry that broke maxSpeed as suspect', async () => {
    const p = await h.start();
    const t = h.host.clock;
    p.accept({ type: 'join', t: t + 1, player: 'fast' });
    p.accept({ type: 'move', t: t + 2, player: 'fast', region: 'r1', at: [100, 64, -20] });
    p.accept({ type: 'move', t: t + 100, player: 'fast', region: 'r1', at: [10, 64, -20] }); // 90 blocks in 98 ms
    h.host.clock = t + 200;
    p.flush();
    await p.drain();
    const enter = h.gw.events().find((e) => e.k === 'enter');
    expect(enter).toMatchObject({ p: 'fast', tr: 'oak', sus: 1, t: t + 100 });
    expect(p.stats().suspects).toBe(1);
  });

  it('a denied start command is counted and sends no start event', async () => {
    const p = await h.start();
    p.accept({ type: 'command', t: h.host.clock + 1, player: 'mallory', line: 'hunt start spring' });
    h.host.clock += 2;
    p.flush();
    await p.drain();
    expect(h.gw.events().some((e) => e.k === 'start')).toBe(false);
    expect(p.stats().deniedCommands).toBe(1);
    expect(h.host.toldTo('mallory')).toHaveLength(1);
  });

  it('stop flushes a final watermark and waits for its ack', async () => {
    const p = await h.start();
    p.accept({ type: 'join', t: h.host.clock + 1, player: 'p1' });
    h.host.clock += 10;
    await p.stop(2000);
    expect(h.gw.unique().at(-1)).toMatchObject({ wm: h.host.clock });
    expect(p.stats().outboxBatches).toBe(0);
    p.accept({ type: 'join', t: h.host.clock + 1, player: 'p2' }); // ignored after stop
    expect(p.stats().samples).toBe(1);
  });

  it('stop gives up after its timeout when the gateway does not ack', async () => {
    const p = await h.start();
    h.gw.autoAck = false;
    h.host.clock += 10;
    const t0 = Date.now();
    await p.stop(100);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(p.stats().outboxBatches).toBe(1);
    await expect(p.drain()).rejects.toThrow(/stopped/);
  });
});

describe('link: several gateways', () => {
  it('moves to the next gateway when the one it uses goes down, with the same epoch, resending only what is not durable', async () => {
    const other = await FakeGateway.start();
    try {
      const p = await h.start({ gatewayUrl: `${h.gw.url}, ${other.url}` });
      h.gw.autoAck = false;
      for (let k = 0; k < 3; k++) {
        h.host.clock += 10;
        p.accept({ type: 'join', t: h.host.clock, player: `p${k}` });
        p.flush();
      }
      await until(() => h.gw.batches.length === 3, 'three batches on the first gateway');
      h.gw.ack(1);
      await until(() => p.stats().outboxBatches === 2, 'ack of 1');
      // The first gateway made 2 durable too (Redis, shared) but died before acking it.
      other.durableOverride = 2;
      other.autoAck = false;
      await h.gw.close();
      await until(() => other.batches.length === 1, 'the resend on the second gateway');
      expect(other.hellos.map((x) => [x.server, x.epoch])).toEqual([['srv-a', p.epoch]]);
      expect(other.batches.map((b) => b.seq)).toEqual([3]);
      expect(other.batches[0]!.bytes.equals(h.gw.batches[2]!.bytes)).toBe(true);
      // New batches go on with the next seq, to the gateway now in use.
      h.host.clock += 10;
      p.accept({ type: 'join', t: h.host.clock, player: 'p9' });
      p.flush();
      await until(() => other.batches.length === 2, 'a new batch');
      expect(other.batches[1]!.seq).toBe(4);
      expect(p.stats()).toMatchObject({ reconnects: 1 });
    } finally {
      await other.close();
    }
  });

  it('refuses a list with something that is not a ws:// URL, naming it', async () => {
    await expect(h.start({ gatewayUrl: `${h.gw.url},http://nope` })).rejects.toThrow(/gatewayUrl/);
    expect(() => gatewayUrls('ws://a:1, wss://b:2')).not.toThrow();
    expect(gatewayUrls('ws://a:1, wss://b:2')).toEqual(['ws://a:1', 'wss://b:2']);
    expect(() => gatewayUrls('ws://a:1,ftp://b')).toThrow(/"ftp:\/\/b"/);
  });
});
