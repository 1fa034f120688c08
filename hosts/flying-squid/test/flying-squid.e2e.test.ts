/**
 * Cairn in a game server someone else wrote, played by clients someone else wrote: the
 * example server of the README (hosts/flying-squid/serve.js: flying-squid with the Cairn
 * plugin loaded through the adapter), started with the command line the README documents
 * and its hunt and adapter files, joined to a test back end (gateway, worker, kinesalite,
 * Redis), and five mineflayer bots (auth 'offline') that walk to the treasures near spawn.
 *
 * The test records every sample the server fed the plugin and checks that the prizes the
 * pipeline granted, and the items that reached the bots' inventories over the Minecraft
 * protocol, are exactly what DESIGN.md's hunt semantics give for those samples (an oracle
 * written from the text), that no walking bot is a maxSpeed suspect, and that a
 * non-admin's /hunt start is refused and changes nothing. Run by `npm run test:hosts`, on
 * 1.16.5 and 1.21.4 (MC_VERSIONS=1.16.5 picks one).
 */
import type { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { windowMs as huntWindowMs } from '../../../protocol/index.js';
import type { Sample } from '../../../plugin/host.js';
import { startExampleServer } from '../example-server.js';
import type { FsServer, FsVec3, FsWorld } from '../flying-squid-api.js';
import { parseServeArgs, type ServeOptions } from '../serve-options.js';
import { testStack } from '../../../test/support/stack.js';
import { chat, inventoryOf, joinBot, quitAll, waitMessage, walkPath } from './bots.js';
import { documentedServeArgs, REPO_ROOT } from './documented-command.js';
import { expectedPrizes } from './hunt-oracle.js';

const VERSIONS = (process.env.MC_VERSIONS ?? '1.16.5,1.21.4').split(',').map((v) => v.trim()).filter(Boolean);
const SERVER_ID = 'squid-1';
const ADMIN = 'sq_admin';
const OUTSIDER = 'sq_bot4';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (err) {
      console.error('cleanup failed:', (err as Error).message);
    }
  }
  cleanups.length = 0;
});

/** Median move samples per second while walking (gaps under 250 ms), per player. */
function sampleRates(samples: readonly Sample[]): Record<string, { moves: number; walkingHz: number; maxGapMs: number }> {
  const times = new Map<string, number[]>();
  for (const s of samples) if (s.type === 'move') times.set(s.player, [...(times.get(s.player) ?? []), s.t]);
  const out: Record<string, { moves: number; walkingHz: number; maxGapMs: number }> = {};
  for (const [player, ts] of times) {
    const gaps = ts.slice(1).map((t, i) => t - ts[i]!);
    const walking = gaps.filter((g) => g < 250).sort((a, b) => a - b);
    const median = walking[Math.floor(walking.length / 2)] ?? 0;
    out[player] = { moves: ts.length, walkingHz: median > 0 ? Math.round(10_000 / median) / 10 : 0, maxGapMs: Math.max(0, ...gaps) };
  }
  return out;
}

describe.each(VERSIONS)('Cairn in flying-squid %s with mineflayer bots', (version) => {
  it('grants exactly the prizes the hunt semantics give for the positions the server saw, into the bots\' inventories', async () => {
    const began = performance.now();
    const lap = (what: string) => console.log(`[${version}] ${((performance.now() - began) / 1000).toFixed(1)} s ${what}`);

    const stack = await testStack({ workers: 1, graceMs: 0 });
    cleanups.push(() => stack.cleanup());
    const dataDir = mkdtempSync(join(tmpdir(), 'cairn-squid-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // The README's command and files; only where it listens, its back end and its data differ.
    const args = [...documentedServeArgs().map((a) => (a.endsWith('.json') ? join(REPO_ROOT, a) : a)), '--version', version, '--port', '0', '--host', '127.0.0.1', '--server-id', SERVER_ID, '--gateway', stack.gateway!.url, '--data-dir', dataDir];
    const opts = parseServeArgs(args) as ServeOptions;
    const rules = opts.hunts[0]!;
    const HUNT = rules.id;
    const ITEMS: Record<string, string> = opts.adapter.items ?? {};
    const seen: Sample[] = [];
    // flying-squid's own console lines (joins, commands) only when asked for
    const server = await startExampleServer(opts, { tap: (s) => seen.push(s), console: process.env.FLYING_SQUID_LOG === '1' });
    cleanups.push(() => server.stop());
    const { serv, cairn, port } = server;
    // A packet flying-squid fails to encode breaks that client's connection without closing it.
    const clientErrors: string[] = [];
    (serv as unknown as EventEmitter).on('clientError', (_client: unknown, err: Error) => clientErrors.push(err.message));
    // The example hunt fits the example world: its treasures are where players stand.
    const groundY = (await (serv as FsServer & { getSpawnPoint(world: FsWorld): Promise<FsVec3> }).getSpawnPoint(serv.overworld)).y;
    expect(rules.treasures.map((t) => t.at[1])).toEqual(rules.treasures.map(() => groundY));
    const point = (id: string): [number, number] => {
      const t = rules.treasures.find((x) => x.id === id)!;
      return [t.at[0], t.at[2]];
    };
    const points = { oak: point('oak'), well: point('well'), stone: point('stone') };
    lap(`example server listening on ${port} (hunt ${HUNT}); ground at y=${groundY}`);

    const names = [ADMIN, 'sq_bot1', 'sq_bot2', 'sq_bot3', OUTSIDER];
    const bots = await Promise.all(names.map((n) => joinBot(n, port, version)));
    cleanups.push(() => quitAll(bots)); // cleanups run last-in first-out: bots leave first
    const bot = (name: string) => bots.find((b) => b.name === name)!;
    lap(`${bots.length} bots spawned`);

    // flying-squid's op flag is what Cairn's cairn.admin maps to (adapter default).
    await serv.commands.use(`op ${ADMIN}`);

    // A non-admin tries first: refused with a message, and the hunt does not start, so the
    // treasure they then step into before the real start is no find. Meanwhile the others
    // walk to their own starting points (outside every treasure).
    const stage = (i: number): [number, number] => [13 + i, 9];
    const outsider = (async () => {
      chat(bot(OUTSIDER), `/hunt start ${HUNT}`);
      const refusal = await waitMessage(bot(OUTSIDER), /permission cairn\.admin/);
      await walkPath(bot(OUTSIDER), [points.oak, stage(4)]);
      return refusal;
    })();
    const [refusal] = await Promise.all([outsider, ...bots.filter((b) => b.name !== OUTSIDER).map((b, i) => walkPath(b, [stage(i)]))]);
    lap('outsider refused and walked through the oak before the start; the others are at their starting points');

    chat(bot(ADMIN), `/hunt start ${HUNT}`);
    await waitMessage(bot(ADMIN), new RegExp(`Starting hunt ${HUNT}`));
    lap('admin started the hunt');

    const plans: Record<string, [number, number][]> = {
      [ADMIN]: [points.stone, points.oak],
      sq_bot1: [points.oak, points.well, points.stone],
      sq_bot2: [points.oak, points.well],
      sq_bot3: [points.well, points.oak, points.stone],
      [OUTSIDER]: [points.oak],
    };
    await Promise.all(bots.map((b) => walkPath(b, plans[b.name]!)));
    lap('every bot walked its path');

    chat(bot(ADMIN), `/hunt stop ${HUNT}`);
    await waitMessage(bot(ADMIN), new RegExp(`Stopping hunt ${HUNT}`));
    const stopT = seen.find((s) => s.type === 'command' && s.player === ADMIN && s.line === `hunt stop ${HUNT}`)!.t;
    const windowMs = huntWindowMs(rules);
    const lastEnd = (Math.floor(stopT / windowMs) + 1) * windowMs;
    // Bounded, so a back end that never closes the window fails here with its figures.
    let timer: NodeJS.Timeout | undefined;
    const closeTimeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`window ending ${lastEnd} not closed after 30 s; worker ${JSON.stringify(stack.workers[0]!.stats())}; plugin ${JSON.stringify(cairn.plugin.stats())}`)), 30_000);
    });
    await Promise.race([cairn.plugin.waitClosed(HUNT, lastEnd), closeTimeout]).finally(() => clearTimeout(timer));
    lap('the window holding the stop closed');

    // What the contract says for what the server saw.
    const isAdmin = (p: string) => p === ADMIN;
    const oracle = expectedPrizes(rules, SERVER_ID, seen, isAdmin);
    const expected = oracle.prizes.map((p) => ({ ...p, status: 'granted' }));
    const got = cairn.plugin.prizes().sort((a, b) => (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
    expect(got).toEqual(expected);

    // The scenario did what it meant to: every bot found something, ranks 1-5 of the oak,
    // two completions, and the outsider's early visit to the oak did not count.
    expect(oracle.start).toBeDefined();
    const oakFinders = oracle.finds.filter((f) => f.treasure === 'oak').map((f) => f.player);
    expect(oakFinders.sort()).toEqual([...names].sort());
    expect(oracle.prizes.filter((p) => p.reason.startsWith('completion:')).map((p) => p.player).sort()).toEqual(['sq_bot1', 'sq_bot3']);
    const early = seen.some((s) => s.type === 'move' && s.player === OUTSIDER && s.t < oracle.start! && Math.hypot(s.at[0] - points.oak[0], s.at[2] - points.oak[1]) <= 1.5);
    expect(early).toBe(true);
    expect(refusal).toMatch(/You need the permission cairn\.admin to use \/hunt start/);
    // Honest walkers, whatever bursts the server read their moves in, are no speed suspects.
    expect(rules.maxSpeed).toBeDefined();
    expect(oracle.suspects).toEqual([]);
    expect(cairn.plugin.stats().suspects).toBe(0);

    // The items reached the players over the Minecraft protocol (set_slot), exactly.
    const want = (name: string) => {
      const inv: Record<string, number> = {};
      for (const p of expected.filter((e) => e.player === name)) {
        const mc = ITEMS[p.item] ?? p.item;
        inv[mc] = (inv[mc] ?? 0) + p.count;
      }
      return inv;
    };
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !bots.every((b) => JSON.stringify(sorted(inventoryOf(b))) === JSON.stringify(sorted(want(b.name))))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const b of bots) expect({ bot: b.name, inventory: sorted(inventoryOf(b)) }).toEqual({ bot: b.name, inventory: sorted(want(b.name)) });

    const stats = cairn.plugin.stats();
    const hostStats = cairn.host.stats();
    expect(stats.badSamples).toBe(0);
    expect(stats.lateSamples).toBe(0);
    expect(stats.deniedCommands).toBe(1);
    expect(hostStats.handlerErrors).toBe(0);
    expect(clientErrors).toEqual([]);
    expect(stats.prizesGranted).toBe(expected.length);

    const rates = sampleRates(seen);
    lap(
      `done: ${seen.length} samples (${hostStats.moves} moves, ${hostStats.movesSkipped} skipped), ${stats.deltasSent} deltas + ${stats.eventsSent} events sent, ` +
        `${expected.length} prizes granted (${expected.map((p) => `${p.reason} ${p.player} ${p.count} ${p.item}`).join(', ')}); move samples per bot while walking: ` +
        Object.entries(rates)
          .map(([p, r]) => `${p} ${r.moves} moves, ${r.walkingHz}/s, longest gap ${(r.maxGapMs / 1000).toFixed(1)} s`)
          .join('; '),
    );
  });
});

function sorted(o: Record<string, number>): [string, number][] {
  return Object.entries(o).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}
