/**
 * The seed incident: two batch runs processed the same events and paid prizes twice.
 * Here four workers read one stream; round after round, one of them is frozen (SIGSTOP)
 * with a window read, folded and ready to commit, stays frozen past its lease TTL while
 * the others take its shards over and close that window (and more) themselves, and is
 * then resumed, so it sends its commit after all. The commit must be refused as stale,
 * no prize may appear twice on any stream, and the prizes must be exactly expected.json.
 */
import { describe, expect } from 'vitest';
import type { EventRecord } from '../../backend/kinesis/record-format.js';
import { readDecidedPrizes } from '../../worker/worker.js';
import { expectedPrizes, fixtureEvents, fixtureRules, toRecords } from './support/fixture.js';
import { workerTest as it } from '../support/fixtures.js';
import { closedThrough, finalClosed, readStream, registerServers, waitClosedAt, waitFor } from './support/harness.js';
import { spawnWorker, type WorkerChild } from './support/worker-child.js';

const HUNT = 'oracle-hunt';
// Short windows and small chunks: the armed worker must win a close race at least once per
// round before the trace runs out, which 30 windows did not always give on a loaded machine.
const WINDOW = '2s';
const LEASE_MS = 600;
const ROUNDS = 4;

/** The fixture's records in time order (each server's batches in seq order, merged by watermark), in `n` chunks. */
function chunks(n: number): { chunks: EventRecord[][]; servers: Record<string, number>; end: number } {
  const fx = fixtureEvents(fixtureRules(WINDOW));
  const finalWm = fx.lastT + 60_000;
  const all = fx.servers.flatMap((s, i) => toRecords(s, { seed: 500 + i, batchMin: 10, batchMax: 40, maxParts: 2, finalWm }));
  all.sort((a, b) => a.wm - b.wm || (a.s < b.s ? -1 : a.s > b.s ? 1 : 0) || a.q - b.q || a.pt - b.pt);
  const size = Math.ceil(all.length / n);
  return {
    chunks: Array.from({ length: n }, (_, i) => all.slice(i * size, (i + 1) * size)),
    servers: Object.fromEntries(fx.servers.map((s) => [s.server, s.epoch])),
    end: finalClosed(WINDOW, finalWm),
  };
}

const shardIds = (n: number) => Array.from({ length: n }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);

describe('the seed incident', () => {
  it(`a worker frozen with a window in hand past its lease TTL, resumed after others closed it, has its commit refused; ${ROUNDS} rounds, prizes equal expected.json, none twice`, async ({ kinesis, workerEnv }) => {
    const env = await workerEnv('seed', 4);
    const e = env;
    const b = chunks(72);
    await registerServers(e.redis, e.keys, b.servers);
    const workers: WorkerChild[] = [];
    for (let i = 0; i < 4; i++) workers.push(await spawnWorker(e, kinesis.endpoint, `w${i}`, { leaseMs: LEASE_MS, commitHooks: true }));
    const owners = () => Promise.all(shardIds(4).map((s) => e.redis.get(e.keys.lease(s))));
    await waitFor('one shard each', async () => new Set(await owners()).size === 4 && (await owners()).every((o) => o !== null));

    let next = 0;
    const put = async () => {
      if (next >= b.chunks.length) throw new Error(`fed every chunk before round ${rounds.length + 1} froze its worker`);
      await e.put(b.chunks[next++]!, next);
    };
    const rounds: { worker: string; start: number; status: string }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const w = workers[round % 4]!;
      const seen = w.lines.length;
      w.arm();
      // Feed the stream until the armed worker attempts a commit (the others may win the race for a few windows).
      let line: string | undefined;
      let fedAt = 0;
      await waitFor(`${w.id} frozen before a commit`, async () => {
        line = w.lines.slice(seen).find((l) => l.startsWith('pausing '));
        if (line) return true;
        if (Date.now() - fedAt > 500) {
          await put();
          fedAt = Date.now();
        }
        return false;
      });
      const [, hunt, start] = line!.split(' ') as [string, string, string];
      expect(hunt).toBe(HUNT);
      const windowStart = Number(start);
      // Frozen past its TTL: its leases go to the others, who also close the window it holds (and more, fed meanwhile).
      await waitFor(`${w.id}'s leases taken over`, async () => (await owners()).every((o) => o !== null && o !== w.id));
      await put();
      await waitFor(`the window at ${windowStart} closed by another worker`, async () => ((await closedThrough(e.redis, e.keys, HUNT)) ?? 0) > windowStart);
      const linesBefore = w.lines.length;
      w.proc.kill('SIGCONT');
      // It wakes up and sends the commit it had computed.
      const outcome = await waitFor(`${w.id}'s commit after waking`, async () => w.lines.slice(linesBefore).find((l) => l.startsWith(`commit `) && l.split(' ')[3] === start));
      const [, status, , , newPrizes] = outcome.split(' ');
      rounds.push({ worker: w.id, start: windowStart, status: status! });
      expect(status, `commit of window ${windowStart} by ${w.id} after waking`).toBe('stale');
      expect(newPrizes).toBe('0');
    }

    while (next < b.chunks.length) await put();
    await waitClosedAt(e.redis, e.keys, HUNT, b.end);

    // Exactly expected.json, each prize decided once and on its server's stream once.
    const decided = await readDecidedPrizes(e.redis, e.keys, HUNT);
    expect(decided.map(({ hunt, reason, player, server, item, count }) => ({ hunt, reason, player, server, item, count }))).toEqual(expectedPrizes());
    const reasons: string[] = [];
    for (const s of Object.keys(b.servers)) for (const x of await readStream(e.redis, e.keys, s)) if (x.kind === 'prize') reasons.push(x.reason);
    expect(reasons.length).toBe(expectedPrizes().length);
    expect(new Set(reasons).size).toBe(reasons.length);

    // Between them the four workers set each prize once; every resumed commit was counted stale.
    const stats = await Promise.all(workers.map((w) => w.stats()));
    expect(stats.reduce((n, s) => n + s.prizesCommitted!, 0)).toBe(expectedPrizes().length);
    expect(stats.reduce((n, s) => n + s.staleCommits!, 0)).toBeGreaterThanOrEqual(ROUNDS);
    expect(new Set(rounds.map((r) => r.worker)).size).toBe(4);
  }, 180_000); // four worker processes and four freeze rounds: ~25 s on an idle 2-core machine, several times that under load
});
