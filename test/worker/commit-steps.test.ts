/**
 * A worker killed (SIGKILL, in a process of its own) between the steps of a window
 * commit: after the commit and before the fan-out, after the fan-out and before the
 * merge of the window's finds into the player buckets, and midway through that merge.
 * Another worker finishes what was left: prizes equal expected.json, none on a stream
 * twice, and the stored players' finds equal those of the pure fold over the fixture.
 */
import { once } from 'node:events';
import { describe, expect } from 'vitest';
import { emptyHuntState, foldWindow } from '../../hunt/hunt-fold.js';
import { readHuntState } from '../../hunt/hunt-store.js';
import type { HuntEvent } from '../../protocol/index.js';
import { readDecidedPrizes } from '../../worker/worker.js';
import { workerTest as it } from '../support/fixtures.js';
import { expectedPrizes, fixtureEvents, fixtureRules, prng, shuffle, toRecords } from './support/fixture.js';
import { finalClosed, readStream, registerServers, waitClosedAt, waitFor, type Env } from './support/harness.js';
import { spawnWorker } from './support/worker-child.js';

const HUNT = 'oracle-hunt';
const WINDOW = '20s';

function fixture(seed: number) {
  const fx = fixtureEvents(fixtureRules(WINDOW));
  const finalWm = fx.lastT + 600_000;
  const records = fx.servers.flatMap((s, i) => toRecords(s, { batchMin: 5, batchMax: 40, maxParts: 2, seed: seed + i, finalWm }));
  // Every player's finds, from the pure fold over all of the hunt's events at once.
  const events: HuntEvent[] = [];
  for (const s of fx.servers) for (const ev of s.events) if ('hunt' in ev && ev.hunt === HUNT) events.push({ ...ev, server: s.server } as HuntEvent);
  const folded = emptyHuntState(HUNT);
  foldWindow(folded, events);
  return { records: shuffle(records, prng(seed)), servers: Object.fromEntries(fx.servers.map((s) => [s.server, s.epoch])), end: finalClosed(WINDOW, finalWm), players: folded.players };
}

async function expectFixturePrizes(e: Env, servers: string[]): Promise<void> {
  const decided = await readDecidedPrizes(e.redis, e.keys, HUNT);
  expect(decided.map(({ hunt, reason, player, server, item, count }) => ({ hunt, reason, player, server, item, count }))).toEqual(expectedPrizes());
  const reasons: string[] = [];
  for (const s of servers) for (const x of await readStream(e.redis, e.keys, s)) if (x.kind === 'prize') reasons.push(x.reason);
  expect(reasons.length).toBe(expectedPrizes().length);
  expect(new Set(reasons).size).toBe(reasons.length);
}

const CASES = [
  { name: 'after a commit, before its fan-out', env: 'CAIRN_TEST_EXIT_AFTER_COMMIT', fanOutLeft: true },
  { name: 'after a fan-out, before the merge of the window\'s finds', env: 'CAIRN_TEST_EXIT_AFTER_FAN_OUT', fanOutLeft: false },
  { name: 'midway through the merge of a window\'s finds', env: 'CAIRN_TEST_EXIT_MID_MERGE', fanOutLeft: false },
] as const;

describe('a worker killed between the steps of a window commit', () => {
  for (const [i, c] of CASES.entries()) {
    it(`${c.name}: another worker finishes; prizes equal expected.json, none twice; every find stored`, async ({ kinesis, workerEnv }) => {
      const env = await workerEnv(`steps-${i}`, 2);
      const b = fixture(70 + i);
      await registerServers(env.redis, env.keys, b.servers);
      const doomed = await spawnWorker(env, kinesis.endpoint, 'doomed', { leaseMs: 1000, env: { [c.env]: '1' } });
      const exited = once(doomed.proc, 'exit') as Promise<[number | null, string | null]>;
      await env.put(b.records, 70 + i);
      const [, signal] = await exited;
      expect(signal).toBe('SIGKILL');
      expect(doomed.lines.some((l) => l.startsWith('exiting '))).toBe(true);
      // What it left: the window's finds not merged (and its fan-out, if it died before that).
      expect(await env.redis.exists(env.keys.merge(HUNT))).toBe(1);
      expect((await env.redis.zcard(env.keys.fanOut(HUNT))) > 0).toBe(c.fanOutLeft);
      if (c.env === 'CAIRN_TEST_EXIT_MID_MERGE') expect(await env.redis.exists(env.keys.players(HUNT))).toBe(1);

      await env.start({ workerId: 'survivor', leaseMs: 1000 });
      await waitClosedAt(env.redis, env.keys, HUNT, b.end);
      await waitFor('last merge', async () => (await env.redis.exists(env.keys.merge(HUNT))) === 0);
      await expectFixturePrizes(env, Object.keys(b.servers));
      expect((await readHuntState(env.redis, env.keys, HUNT))!.players).toEqual(b.players);
    });
  }
});
