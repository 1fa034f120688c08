/**
 * Issue 3, on the real back end (Redis, kinesalite, gateway, worker):
 *
 * - the plugin is restarted in the middle of receiving a window's prizes (stopped on the
 *   first one, with the rest in flight, unacked or queued): the gateway delivers again, and
 *   still no prize is granted twice, and none is missing;
 * - the gateway stays down long enough for discrete events to fill the outbox and spill;
 *   the plugin is stopped during the outage (the spill file keeps what was not acked),
 *   started again (new epoch) once the gateway is back, resends those events with their
 *   original ids, and the prizes are exactly those of the reference fold of the same samples.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { windowMs, type HuntRules } from '../../protocol/index.js';
import { CairnPlugin } from '../../plugin/cairn-plugin.js';
import { FakeHost } from '../plugin/support/fake-host.js';
import { prizeKeys, referencePrizes, tinyHunt, T0 } from '../support/trace-builder.js';
import type { TraceLine } from '../../plugin/hosts/trace.js';
import { restartableStack, type RestartableStack } from './restartable-gateway.js';

let env: RestartableStack | undefined;
let dir: string | undefined;
const plugins: CairnPlugin[] = [];
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.stop(0).catch(() => undefined);
  await env?.cleanup();
  env = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const SERVER = 'srv-a';
const link = { backoffBaseMs: 20, backoffCapMs: 200 };

/** Samples of a hunt: the admin starts it, then `players` walk into its treasure one after another, `gapMs` apart. */
function huntSamples(hunt: HuntRules, players: number, gapMs = 20): TraceLine[] {
  const lines: TraceLine[] = [{ t: T0, server: SERVER, type: 'join', player: 'admin', perms: ['cairn.admin'] }];
  lines.push({ t: T0 + 1, server: SERVER, type: 'command', player: 'admin', line: `hunt start ${hunt.id}` });
  for (let k = 0; k < players; k++) {
    const t = T0 + 10 + k * gapMs;
    const player = `p${String(k).padStart(3, '0')}`;
    lines.push({ t, server: SERVER, type: 'join', player, perms: [] });
    lines.push({ t: t + 1, server: SERVER, type: 'move', player, region: 'r1', at: [20, 64, 20] });
    lines.push({ t: t + 2, server: SERVER, type: 'move', player, region: 'r1', at: [0.5, 64, 0] });
  }
  return lines;
}

/** Feeds samples through the plugin as the host would, keeping the host's online set. */
function feed(p: CairnPlugin, host: FakeHost, lines: TraceLine[], flushEvery = 0): void {
  let n = 0;
  for (const l of lines) {
    host.clock = Math.max(host.clock, l.t);
    if (l.type === 'join') {
      host.online.add(l.player);
      for (const perm of l.perms) host.grant(l.player, perm);
      p.accept({ type: 'join', t: l.t, player: l.player });
    } else if (l.type === 'move') p.accept({ type: 'move', t: l.t, player: l.player, region: l.region, at: l.at });
    else if (l.type === 'command') p.accept({ type: 'command', t: l.t, player: l.player, line: l.line });
    if (flushEvery && ++n % flushEvery === 0) p.flush();
  }
}

describe('plugin restarts on the real back end', () => {
  it('a restart in the middle of a window of prizes grants none twice and misses none', async () => {
    env = await restartableStack();
    dir = await mkdtemp(join(tmpdir(), 'cairn-restart-'));
    // 10 s windows: the first 20 finders fall in the first window, the next 20 in the second
    const hunt = tinyHunt();
    const host = new FakeHost(SERVER, T0);
    const start = () => CairnPlugin.start({ host, hunts: [hunt], dataDir: dir!, gatewayUrl: env!.url, token: env!.token, autoFlush: false, link });
    const a = await start();
    plugins.push(a);
    const players = 40;
    const lines = huntSamples(hunt, players, 480);
    feed(a, host, lines);
    const len = windowMs(hunt);
    const end1 = T0 + len;
    host.clock = end1;
    // Stop on the first prize of the first window, with the rest of its prizes on their way
    // (queued, or not yet acked when the link closes) and the second window still open.
    const stopped = new Promise<void>((resolve) => a.once('prize', () => void a.stop(0).then(() => resolve())));
    a.flush({ force: true });
    await stopped;
    const grantedByA = a.stats().prizesGranted;
    expect(grantedByA).toBeGreaterThanOrEqual(1);

    const b = await start();
    plugins.push(b);
    expect(b.epoch).toBeGreaterThan(a.epoch);
    const outcomes: string[] = [];
    b.on('prize', (p: { outcome: string }) => outcomes.push(p.outcome));
    host.clock = end1 + len;
    b.flush({ force: true });
    await b.waitClosed(hunt.id, end1 + len);
    const expected = referencePrizes([hunt], lines);
    expect(expected).toHaveLength(players);
    // Every prize given in game exactly once, across both instances.
    const given = host.given.map((g) => `${g.player}:${g.item}:${g.count}`).sort();
    expect(given).toEqual(expected.map((p) => `${p.player}:${p.item}:${p.count}`).sort());
    expect(prizeKeys(b.prizes())).toEqual(expected);
    expect(b.prizes().every((p) => p.status === 'granted')).toBe(true);
    // B granted the second window's prizes and was delivered some of the first window's again
    expect(b.stats().prizesGranted).toBe(players - grantedByA);
    expect(outcomes.filter((o) => o === 'granted')).toHaveLength(players - grantedByA);

    // A third instance: nothing is granted again, whatever the gateway still delivers.
    await b.stop(1000);
    const c = await start();
    plugins.push(c);
    await new Promise((r) => setTimeout(r, 300));
    expect(host.given).toHaveLength(players);
    expect(c.stats().prizesGranted).toBe(0);
  });

  it('a long outage spills; a restart during it resends the spilled events with their ids, and the prizes are the reference ones', async () => {
    env = await restartableStack();
    dir = await mkdtemp(join(tmpdir(), 'cairn-outage-'));
    const hunt = tinyHunt({ window: '60s' });
    const host = new FakeHost(SERVER, T0);
    const start = () =>
      CairnPlugin.start({ host, hunts: [hunt], dataDir: dir!, gatewayUrl: env!.url, token: env!.token, autoFlush: false, outboxMaxBytes: 8 * 1024, batchMaxEvents: 25, link });
    const a = await start();
    plugins.push(a);
    const lines = huntSamples(hunt, 150);
    feed(a, host, lines.slice(0, 20), 5);
    await a.drain();
    await env.kill();
    feed(a, host, lines.slice(20), 5);
    const s = a.stats();
    expect(s.spilledEvents).toBeGreaterThan(100);
    const report = await a.stop(100);
    expect(report.drained).toBe(false);
    expect(report.spilledEvents).toBeGreaterThan(s.spilledEvents);

    await env.revive();
    const b = await start();
    plugins.push(b);
    const end = T0 + windowMs(hunt);
    host.clock = end;
    b.flush({ force: true });
    await b.drain();
    expect(b.stats()).toMatchObject({ spillPending: 0, spillBytes: 0 });
    await b.waitClosed(hunt.id, end);
    const expected = referencePrizes([hunt], lines);
    expect(expected.length).toBe(100); // ranks 1-100 of 150 finders
    expect(prizeKeys(b.prizes())).toEqual(expected);
    expect(host.given).toHaveLength(100);
  });
});
