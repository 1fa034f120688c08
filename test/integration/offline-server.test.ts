/**
 * A game server that is offline when the window holding its player's find closes (#5):
 * the whole back end (gateway, worker, kinesalite, Redis) and real plugins. The prize
 * waits in the server's prize stream; when the server comes back (a new plugin instance
 * on the same data folder, as after a restart) it is delivered, granted once, and acked;
 * delivered again later, it is not granted again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Histogram } from 'prom-client';
import { CairnPlugin } from '../../plugin/cairn-plugin.js';
import type { Host } from '../../plugin/host.js';
import { DELIVERY_LATENCY_METRIC } from '../../gateway/metrics.js';
import { DELIVERY_GROUP } from '../../backend/redis/keys.js';
import { parsePrizeStreamEntry } from '../../backend/prize-stream.js';
import { testStack } from '../support/stack.js';
import { tinyHunt } from '../support/trace-builder.js';

const TOKEN = 'cairn-dev-token';

/** A game server whose clock the test moves: its watermark (host.now() - 1 at each timer flush) goes exactly where the test says. */
class TestHost implements Host {
  readonly gifts: string[] = [];
  constructor(readonly serverId: string, public clock: number, private readonly online: Set<string>, private readonly admins: Set<string> = new Set()) {}
  now(): number {
    return this.clock;
  }
  isOnline(player: string): boolean {
    return this.online.has(player);
  }
  hasPermission(player: string, node: string): boolean {
    return node === 'cairn.admin' && this.admins.has(player);
  }
  giveItem(player: string, item: string, count: number): boolean {
    this.gifts.push(`${player} ${count} ${item}`);
    return true;
  }
  tell(): void {}
}

async function eventually<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

describe('a server offline across a window close', () => {
  it('gets its prize when it reconnects, granted once, and not again when delivered again', async () => {
    const stack = await testStack({ workers: 1, graceMs: 0 });
    cleanups.push(() => stack.cleanup());
    const { redis, keys } = stack;
    const hunt = tinyHunt({ window: '1s' });
    const dirA = mkdtempSync(join(tmpdir(), 'cairn-offline-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'cairn-offline-b-'));
    cleanups.push(async () => {
      rmSync(dirA, { recursive: true, force: true });
      rmSync(dirB, { recursive: true, force: true });
    });
    const url = stack.gateway!.url;
    const plugin = async (host: TestHost, dataDir: string) => {
      const p = await CairnPlugin.start({ host, hunts: [hunt], dataDir, gatewayUrl: url, token: TOKEN, flushIntervalMs: 20, heartbeatMs: 50 });
      cleanups.push(async () => void (await p.stop(1000)));
      return p;
    };

    const T = 1_800_000_000_000; // a window start (1 s windows)
    const windowEnd = T + 1000;
    const hostA = new TestHost('srv-a', T, new Set(['admin']), new Set(['admin']));
    const a = await plugin(hostA, dirA);
    const hostB = new TestHost('srv-b', T, new Set(['bob']));
    const b1 = await plugin(hostB, dirB);
    a.accept({ type: 'join', t: T + 1, player: 'admin' });
    a.accept({ type: 'command', t: T + 2, player: 'admin', line: 'hunt start tiny' });
    hostA.clock = T + 10;
    b1.accept({ type: 'join', t: T + 3, player: 'bob' });
    b1.accept({ type: 'move', t: T + 4, player: 'bob', region: 'r1', at: [10, 64, 0] });
    b1.accept({ type: 'move', t: T + 5, player: 'bob', region: 'r1', at: [0, 64, 0] }); // the find
    // srv-b reports past the window's end, then goes away; srv-a is still behind it, so the window is still open.
    hostB.clock = windowEnd + 10;
    await eventually('srv-b watermark past the window end', async () => Number(await redis.hget(keys.watermark('srv-b', b1.epoch), 'wm')) >= windowEnd);
    // A timer flush claims the millisecond before the host's time.
    await eventually('srv-a events in', async () => Number(await redis.hget(keys.watermark('srv-a', a.epoch), 'wm')) === T + 10 - 1);
    expect(await redis.get(keys.closed('tiny'))).toBeNull();
    await b1.stop(2000);
    expect(hostB.gifts).toEqual([]);
    hostA.clock = windowEnd + 10;

    // The window closes while srv-b is offline: its prize waits in its stream, delivered to nobody.
    const stream = keys.prizeStream('srv-b');
    const entry = await eventually('the prize on srv-b\'s stream', async () =>
      (await redis.xrange(stream, '-', '+')).map(([id, f]) => parsePrizeStreamEntry(id, f)).find((e) => e?.kind === 'prize'));
    expect(entry).toMatchObject({ kind: 'prize', hunt: 'tiny', reason: 'treasure:oak:1', player: 'bob', item: 'gold', count: 5 });
    const pendingCount = async () => ((await redis.call('XPENDING', stream, DELIVERY_GROUP)) as [number])[0];
    expect(await pendingCount()).toBe(0);
    const offlineFor = Date.now() - Number(entry!.id.split('-')[0]);

    // srv-b comes back (a new plugin instance, same data folder, new epoch): the prize arrives, is granted and acked.
    const hostB2 = new TestHost('srv-b', windowEnd + 20, new Set(['bob']));
    const outcomes: string[] = [];
    const b2 = await plugin(hostB2, dirB);
    b2.on('prize', (p: { reason: string; outcome: string }) => outcomes.push(`${p.reason} ${p.outcome}`));
    await eventually('bob granted and recorded', () => outcomes.length > 0);
    expect(hostB2.gifts).toEqual(['bob 5 gold']);
    expect(b2.prizes()).toEqual([{ hunt: 'tiny', reason: 'treasure:oak:1', player: 'bob', server: 'srv-b', item: 'gold', count: 5, status: 'granted' }]);
    await eventually('acked', async () => (await pendingCount()) === 0);
    // Its latency from the window close to the ack covers the time srv-b was away.
    const h = stack.registry.getSingleMetric(DELIVERY_LATENCY_METRIC) as Histogram<'kind'>;
    const sum = (await h.get()).values.find((v) => v.metricName === `${DELIVERY_LATENCY_METRIC}_sum` && v.labels.kind === 'prize')?.value;
    expect(sum).toBeGreaterThanOrEqual(offlineFor / 1000);

    // Delivered again (the group's position reset, as if the ack had been lost): recorded as a duplicate, not granted twice.
    await redis.call('XGROUP', 'SETID', stream, DELIVERY_GROUP, '0');
    await eventually('the prize delivered a second time', () => outcomes.length >= 2);
    expect(outcomes).toEqual(['treasure:oak:1 granted', 'treasure:oak:1 duplicate']);
    expect(hostB2.gifts).toEqual(['bob 5 gold']);
    expect(hostB.gifts).toEqual([]);
    expect(hostA.gifts).toEqual([]);
  });
});
