/**
 * lua/commit-window.lua on its own, against real Redis: the compare-and-set that makes
 * racing workers safe, prizes set once ever, the stream entries its fan-out appends, and
 * the merge of the changed players' finds into the player buckets (window-merge.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../../backend/redis/keys.js';
import { emptyHuntState, type DecidedPrize, type HuntState } from '../../hunt/hunt-fold.js';
import { PlayerTable } from '../../hunt/player-table.js';
import { encodePendingEvent } from '../../worker/pending-events.js';
import { workerScripts } from '../../worker/scripts.js';
import { readDecidedPrizes, WindowCloser } from '../../worker/window-closer.js';
import { commitWindow, type CommitArgs } from '../../worker/window-commit.js';
import { fanOutWindows, parseFanOutEntry } from '../../worker/window-fan-out.js';
import { CLOSED_ENTRY_FIELDS, parsePrizeStreamEntry, PRIZE_ENTRY_FIELDS } from '../../backend/prize-stream.js';
import { loadLegacyPlayers, loadPlayers, readHuntState } from '../../hunt/hunt-store.js';
import { findList, findListJson } from '../../hunt/find-list.js';
import { playerBucket } from '../../hunt/player-buckets.js';
import { mergeWindowFinds } from '../../worker/window-merge.js';
import { ingestRecord } from '../../worker/record-ingest.js';
import { WorkerMetrics } from '../../worker/metrics.js';
import { logger } from '../../common/log.js';
import { expectedPrizes, fixtureEvents, fixtureRules, toRecords } from './support/fixture.js';
import { testRedis } from '../support/redis.js';
import { readStream } from './support/harness.js';
import { EventMaker, rec, SMALL, T0 } from './support/small-hunt.js';
import type { HuntEvent } from '../../protocol/index.js';

const H = 'h1';
let r: Awaited<ReturnType<typeof testRedis>>;
let redis: Redis;
let keys: RedisKeys;
const scripts = workerScripts();

beforeEach(async () => {
  r = await testRedis('commit');
  redis = r.redis;
  keys = r.keys;
  await redis.hset(keys.servers(), { 'srv-a': 1, 'srv-b': 1 });
});
afterEach(async () => {
  await r.cleanup();
});

const prize = (reason: string, player: string, server = 'srv-a'): DecidedPrize => ({ hunt: H, reason, player, server, item: 'gold', count: 3, t: T0 + 1 });
const ev = (n: number, t: number): HuntEvent => ({ k: 'enter', e: 1, n, t, p: `p${n}`, hunt: H, tr: 'rock', region: 'r', at: [0, 0, 0], server: 'srv-a' });

function args(over: Partial<CommitArgs> = {}): CommitArgs {
  return {
    hunt: H, expected: undefined, start: T0, end: T0 + 10_000, state: emptyHuntState(H), commitId: `c-${++commits}`,
    prizes: [prize('treasure:rock:1', 'p1')], finds: '', read: 0, late: [], ...over,
  };
}
let commits = 0;
/** A merge list holding the whole finds of `players` (as a legacy state's are listed). */
function findsJson(state: HuntState, players: string[], base = T0): string {
  const table = new PlayerTable();
  loadLegacyPlayers(table, Object.fromEntries(players.map((p) => [p, state.players[p]!])));
  return findListJson(findList(table, base));
}
/** The three steps of a window commit, as the closer runs them. */
async function commit(a: CommitArgs) {
  const res = await commitWindow(redis, keys, scripts, a);
  await fanOutWindows(redis, keys, scripts, a.hunt);
  await mergeWindowFinds(redis, keys, scripts, a.hunt);
  return res;
}
const kinds = async (server: string) => (await readStream(redis, keys, server)).map((e) => (e.kind === 'prize' ? `prize ${e.reason}` : `closed ${e.start - T0}-${e.end - T0}`));

describe('commit-window.lua', () => {
  it('writes prize stream entries with exactly the fields backend/prize-stream.ts names, in its order', async () => {
    await commit(args());
    const entries = (await redis.xrange(keys.prizeStream('srv-a'), '-', '+')) as [string, string[]][];
    const names = (fields: string[]) => fields.filter((_, i) => i % 2 === 0);
    expect(entries.map(([, f]) => names(f))).toEqual([[...PRIZE_ENTRY_FIELDS], [...CLOSED_ENTRY_FIELDS]]);
    expect(entries.map(([id, f]) => parsePrizeStreamEntry(id, f)?.kind)).toEqual(['prize', 'closed']);
  });

  it('two workers committing the same window at once: one commits, the other is stale; the prize is set and appended once', async () => {
    const members = [encodePendingEvent(ev(1, T0 + 1)), encodePendingEvent(ev(2, T0 + 2))];
    await redis.zadd(keys.pending(H), T0 + 1, members[0]!, T0 + 2, members[1]!);
    const res = await Promise.all([commit(args({ read: 2 })), commit(args({ read: 2 }))]);
    expect(res.map((x) => x.status).sort()).toEqual(['committed', 'stale']);
    expect(res.map((x) => x.newPrizes).sort()).toEqual([0, 1]);
    expect(await redis.get(keys.closed(H))).toBe(String(T0 + 10_000));
    expect(await redis.zcard(keys.pending(H))).toBe(0);
    expect(await kinds('srv-a')).toEqual(['prize treasure:rock:1', 'closed 0-10000']);
    expect(await kinds('srv-b')).toEqual(['closed 0-10000']);
    expect((await readDecidedPrizes(redis, keys, H)).map((p) => p.player)).toEqual(['p1']);
  });

  it('a commit whose expected window start is stale is rejected and writes nothing', async () => {
    await redis.set(keys.closed(H), String(T0 + 20_000));
    const member = encodePendingEvent(ev(1, T0 + 25_000));
    await redis.zadd(keys.pending(H), T0 + 25_000, member);
    // A worker that was paused computed [T0+10s, T0+20s) from an old `closed`.
    const res = await commit(args({ expected: T0 + 10_000, start: T0 + 10_000, end: T0 + 20_000, read: 0 }));
    expect(res).toEqual({ status: 'stale', newPrizes: 0 });
    // A first-window commit (closed must be missing) is stale too once closed exists.
    expect((await commit(args())).status).toBe('stale');
    expect(await redis.get(keys.closed(H))).toBe(String(T0 + 20_000));
    expect(await redis.exists(keys.prizes(H), keys.state(H), keys.prizeStream('srv-a'), keys.prizeStream('srv-b'))).toBe(0);
    expect(await redis.zrange(keys.pending(H), 0, '-1')).toEqual([member]);
  });

  it('a prize (hunt, reason) already decided is never set or appended again', async () => {
    const first = JSON.stringify(prize('treasure:rock:1', 'first'));
    await redis.hset(keys.prizes(H), 'treasure:rock:1', first);
    const res = await commit(args({ prizes: [prize('treasure:rock:1', 'second'), prize('treasure:rock:2', 'p2', 'srv-b')] }));
    expect(res).toEqual({ status: 'committed', newPrizes: 1 });
    expect(await redis.hget(keys.prizes(H), 'treasure:rock:1')).toBe(first);
    expect(await kinds('srv-a')).toEqual(['closed 0-10000']);
    expect(await kinds('srv-b')).toEqual(['prize treasure:rock:2', 'closed 0-10000']);
  });

  it('a prize for a server not in the registry still reaches that server, followed by its closed entry', async () => {
    const res = await commit(args({ prizes: [prize('treasure:rock:1', 'p1', 'srv-gone')] }));
    expect(res.status).toBe('committed');
    expect(await kinds('srv-gone')).toEqual(['prize treasure:rock:1', 'closed 0-10000']);
  });

  it('the fan-out step resumes after a crash between the steps: every prize once, windows in order', async () => {
    // Two windows committed, the worker gone before either was fanned out.
    expect((await commitWindow(redis, keys, scripts, args({ prizes: [prize('treasure:rock:1', 'p1'), prize('treasure:rock:2', 'p2', 'srv-b')] }))).status).toBe('committed');
    expect((await commitWindow(redis, keys, scripts, args({ expected: T0 + 10_000, start: T0 + 10_000, end: T0 + 20_000, prizes: [prize('treasure:rock:3', 'p3')] }))).status).toBe('committed');
    expect(await redis.exists(keys.prizeStream('srv-a'), keys.prizeStream('srv-b'))).toBe(0);
    expect(await redis.zcard(keys.fanOut(H))).toBe(2);
    // A fan-out that reached srv-a with the first window only, then died before removing its entry.
    const [first] = await redis.zrange(keys.fanOut(H), '0', '0');
    expect(await scripts.fanOutWindow(redis, keys, 'srv-a', parseFanOutEntry(H, first!))).toBe(true);
    // Two workers resume at once.
    await Promise.all([fanOutWindows(redis, keys, scripts, H), fanOutWindows(redis, keys, scripts, H)]);
    expect(await kinds('srv-a')).toEqual(['prize treasure:rock:1', 'closed 0-10000', 'prize treasure:rock:3', 'closed 10000-20000']);
    expect(await kinds('srv-b')).toEqual(['prize treasure:rock:2', 'closed 0-10000', 'closed 10000-20000']);
    expect(await redis.zcard(keys.fanOut(H))).toBe(0);
    // An old fan-out entry replayed (a paused worker waking up) appends nothing.
    expect(await scripts.fanOutWindow(redis, keys, 'srv-a', parseFanOutEntry(H, first!))).toBe(false);
    expect((await kinds('srv-a')).length).toBe(4);
  });

  it('refuses when the pending events below the window end are not the ones read (one arrived since): nothing written', async () => {
    await redis.zadd(keys.pending(H), T0 + 1, encodePendingEvent(ev(1, T0 + 1)), T0 + 2, encodePendingEvent(ev(2, T0 + 2)));
    // Read when only the first was there.
    const res = await commit(args({ read: 1 }));
    expect(res).toEqual({ status: 'pending-changed', newPrizes: 0 });
    expect(await redis.exists(keys.closed(H), keys.state(H), keys.prizes(H), keys.prizeStream('srv-a'))).toBe(0);
    expect(await redis.zcard(keys.pending(H))).toBe(2);
  });

  it('the same commit applied twice (a resend after its reply was lost) is recognised, not counted stale, and writes nothing more', async () => {
    const a = args({ prizes: [prize('treasure:rock:1', 'p1'), prize('treasure:rock:2', 'p2')] });
    expect(await commit(a)).toEqual({ status: 'committed', newPrizes: 2 });
    const streamA = await kinds('srv-a');
    expect(await commit(a)).toEqual({ status: 'resent', newPrizes: 2 });
    expect(await kinds('srv-a')).toEqual(streamA);
    // Another commit of the same window (same content, another worker) is stale, not "resent".
    expect((await commit({ ...a, commitId: 'other' })).status).toBe('stale');
  });

  it('removes every pending member below the window end, marks late ids, and writes the changed players\' buckets', async () => {
    const members = Array.from({ length: 1800 }, (_, i) => encodePendingEvent(ev(i + 1, T0 + i)));
    await redis.zadd(keys.pending(H), ...members.flatMap((m, i) => [String(T0 + i), m]));
    await redis.zadd(keys.pending(H), T0 - 1, encodePendingEvent(ev(5000, T0 - 1)));
    const keep = encodePendingEvent(ev(6000, T0 + 10_000));
    await redis.zadd(keys.pending(H), T0 + 10_000, keep);
    const state = emptyHuntState(H);
    state.players = { p1: { f: { rock: T0 + 1 }, lt: T0 + 1, ls: 'srv-a' }, 'p"2': { f: { rock: T0 + 2, hill: T0 + 3 }, lt: T0 + 3, ls: 'srv-b' } };
    const res = await commit(args({ prizes: [], state, finds: findsJson(state, Object.keys(state.players)), read: 1801, late: ['srv-a/1/5000'] }));
    expect(res.status).toBe('committed');
    expect(await redis.zrange(keys.pending(H), 0, '-1')).toEqual([keep]);
    expect(await redis.smembers(keys.late(H))).toEqual(['srv-a/1/5000']);
    const back = await readHuntState(redis, keys, H);
    expect(back?.players).toEqual(state.players);
    // The state blob itself no longer carries the players.
    expect(JSON.parse((await redis.get(keys.state(H)))!).players).toEqual({});
  });

  it('a player bucket is rewritten whole: players already in it are kept', async () => {
    const before = emptyHuntState(H);
    for (let i = 0; i < 200_000; i += 997) before.players[`old-${i}`] = { f: { rock: T0 + i }, lt: T0 + i, ls: 'srv-a' };
    // A player that shares old-0's bucket.
    let mate = 0;
    while (playerBucket(`mate-${mate}`) !== playerBucket('old-0')) mate++;
    before.players[`mate-${mate}`] = { f: { rock: T0 + 5 }, lt: T0 + 5, ls: 'srv-c' };
    await commit(args({ prizes: [], state: before, finds: findsJson(before, Object.keys(before.players)) }));
    // The next window, loaded the way the closer does: only the named players' buckets.
    const next = JSON.parse((await redis.get(keys.state(H)))!) as ReturnType<typeof emptyHuntState>;
    const loaded = new PlayerTable();
    await loadPlayers(redis, keys, H, loaded, ['newcomer', 'old-0']);
    next.players = Object.fromEntries(loaded.ids.slice(0, loaded.size).map((p, slot) => [p, loaded.playerFinds(slot)]));
    expect(Object.keys(next.players).sort()).toEqual([`mate-${mate}`, 'old-0']);
    next.players.newcomer = { f: { rock: T0 + 10_001 }, lt: T0 + 10_001, ls: 'srv-b' };
    next.players['old-0']!.f.hill = T0 + 10_002;
    await commit(args({ expected: T0 + 10_000, start: T0 + 10_000, end: T0 + 20_000, prizes: [], state: next, finds: findsJson(next, ['newcomer', 'old-0']) }));
    const back = await readHuntState(redis, keys, H);
    expect(Object.keys(back!.players).length).toBe(Object.keys(before.players).length + 1);
    expect(back!.players['old-0']!.f).toEqual({ rock: T0, hill: T0 + 10_002 });
    expect(back!.players['old-997']).toEqual(before.players['old-997']);
    expect(back!.players[`mate-${mate}`]).toEqual(before.players[`mate-${mate}`]);
  });

  it("a window's merge waits for the delivery of its prizes, unless the next window is due: a backlog closes in one pass; the last window's finds are merged later", async () => {
    const a = new EventMaker('srv-a');
    await redis.del(keys.servers());
    await redis.hset(keys.servers(), { 'srv-a': 1 });
    // Two windows of 10 s with a find each, the watermark past the second only.
    await ingestRecord(redis, keys, scripts, rec('srv-a', 1, T0 + 25_000, [a.rulesEv(T0), a.start(T0), a.enter(T0 + 1000, 'x'), a.enter(T0 + 12_000, 'y')]));
    const merges: number[] = [];
    const ctx = { redis, keys, scripts, metrics: new WorkerMetrics(), log: logger('test'), graceMs: 0, silentServerMs: 0, hooks: { afterMerge: (m: { end: number }) => void merges.push(m.end) } };
    await new WindowCloser({ ...ctx, mergeDelayMs: 3_600_000 }).run();
    // The first window's finds were merged before the second's commit; the second's wait.
    expect(await redis.get(keys.closed(SMALL))).toBe(String(T0 + 20_000));
    expect(merges).toEqual([T0 + 10_000]);
    expect(await redis.hget(keys.merge(SMALL), 'end')).toBe(String(T0 + 20_000));
    expect(Object.keys((await readHuntState(redis, keys, SMALL))!.players).sort()).toEqual(['x', 'y']);
    // A pass once the delay is over merges them.
    await new WindowCloser({ ...ctx, mergeDelayMs: 0 }).run();
    expect(merges).toEqual([T0 + 10_000, T0 + 20_000]);
    expect(await redis.exists(keys.merge(SMALL), keys.mergeList(SMALL))).toBe(0);
    expect(Object.keys(await redis.hgetall(keys.players(SMALL))).length).toBeGreaterThan(0);
  });

  it('two closers racing over the same windows: one commits each window, the other reloads and carries on; prizes equal expected.json, once', async () => {
    const fx = fixtureEvents(fixtureRules('15s'));
    await redis.del(keys.servers());
    await redis.hset(keys.servers(), Object.fromEntries(fx.servers.map((x) => [x.server, x.epoch])));
    for (const [i, se] of fx.servers.entries()) {
      for (const rec of toRecords(se, { seed: i, batchMin: 10, batchMax: 50, maxParts: 2, finalWm: fx.lastT + 60_000 })) await ingestRecord(redis, keys, scripts, rec);
    }
    const m1 = new WorkerMetrics();
    const m2 = new WorkerMetrics();
    const ctx = { redis, keys, scripts, log: logger('test'), graceMs: 0, silentServerMs: 0, mergeDelayMs: 0 };
    await Promise.all([new WindowCloser({ ...ctx, metrics: m1 }).run(), new WindowCloser({ ...ctx, metrics: m2 }).run()]);
    const decided = await readDecidedPrizes(redis, keys, 'oracle-hunt');
    expect(decided.map(({ hunt, reason, player, server, item, count }) => ({ hunt, reason, player, server, item, count }))).toEqual(expectedPrizes());
    const onStreams = (await Promise.all(fx.servers.map((x) => readStream(redis, keys, x.server)))).flat().filter((e) => e.kind === 'prize');
    expect(onStreams.length).toBe(expectedPrizes().length);
    expect(m1.stats.prizesCommitted + m2.stats.prizesCommitted).toBe(expectedPrizes().length);
    expect(m1.stats.staleCommits + m2.stats.staleCommits).toBeGreaterThan(0);
    // Every window was committed exactly once between them: one closed entry per window per server.
    const closedA = (await readStream(redis, keys, 'srv-a')).filter((e) => e.kind === 'closed');
    expect(closedA.length).toBe(m1.stats.windowsClosed + m2.stats.windowsClosed);
    // Every merge list sent ahead of a refused commit is gone; every merge done.
    expect(await redis.keys(`${keys.prefix}:*merge*`)).toEqual([]);
  });
});

describe('merging a window\'s finds into the player buckets (window-merge.ts, merge-players-3.lua)', () => {
  const finder = (state: ReturnType<typeof emptyHuntState>, p: string, tr: string, t: number, server = 'srv-a') => {
    const f = (state.players[p] ??= { f: {}, lt: 0, ls: '' });
    f.f[tr] = t;
    f.lt = t;
    f.ls = server;
  };
  const w2 = { expected: T0 + 10_000, start: T0 + 10_000, end: T0 + 20_000 };

  it('the next window\'s commit is refused while the finds are not merged (nothing written); readers see the unmerged finds', async () => {
    const s1 = emptyHuntState(H);
    finder(s1, 'p1', 'rock', T0 + 1);
    expect((await commitWindow(redis, keys, scripts, args({ state: s1, finds: findsJson(s1, ['p1']) }))).status).toBe('committed');
    await fanOutWindows(redis, keys, scripts, H);
    expect(await redis.exists(keys.merge(H), keys.players(H))).toBe(1);
    expect((await readHuntState(redis, keys, H))!.players).toEqual(s1.players);

    const res = await commitWindow(redis, keys, scripts, args({ ...w2, prizes: [prize('treasure:rock:2', 'p2')] }));
    expect(res).toEqual({ status: 'unmerged', newPrizes: 0 });
    expect(await redis.get(keys.closed(H))).toBe(String(T0 + 10_000));
    expect(await redis.hkeys(keys.prizes(H))).toEqual(['treasure:rock:1']);

    expect(await mergeWindowFinds(redis, keys, scripts, H)).toMatchObject({ end: T0 + 10_000, finds: 1, buckets: 1, byUs: true });
    expect(await redis.exists(keys.merge(H))).toBe(0);
    expect((await readHuntState(redis, keys, H))!.players).toEqual(s1.players);
    expect((await commit(args({ ...w2, prizes: [prize('treasure:rock:2', 'p2')] }))).status).toBe('committed');
    // Nothing to merge: undefined, nothing written.
    expect(await mergeWindowFinds(redis, keys, scripts, H)).toBeUndefined();
  });

  it('a merge stopped midway, then run again by two workers at once, gives the buckets one merge gives', async () => {
    // A first window, merged: 300 players in the buckets.
    const s1 = emptyHuntState(H);
    for (let i = 0; i < 300; i++) finder(s1, `old-${i}`, 'rock', T0 + i);
    await commit(args({ prizes: [], state: s1, finds: findsJson(s1, Object.keys(s1.players)) }));
    // The second changes 100 of them and adds 200.
    const s2 = structuredClone(s1);
    const changed: string[] = [];
    for (let i = 0; i < 300; i += 3) {
      finder(s2, `old-${i}`, 'hill', T0 + 10_000 + i, 'srv-b');
      changed.push(`old-${i}`);
    }
    for (let i = 0; i < 200; i++) {
      finder(s2, `new-${i}`, 'hill', T0 + 10_000 + i);
      changed.push(`new-${i}`);
    }
    expect((await commitWindow(redis, keys, scripts, args({ ...w2, prizes: [], state: s2, finds: findsJson(s2, changed) }))).status).toBe('committed');
    const stop = new Error('worker gone');
    await expect(mergeWindowFinds(redis, keys, scripts, H, { chunk: 7, afterChunk: (written) => { if (written >= 21) throw stop; } })).rejects.toBe(stop);
    // Midway: the list is still there, some buckets have its players, readers see them all.
    expect(await redis.exists(keys.merge(H))).toBe(1);
    expect((await readHuntState(redis, keys, H))!.players).toEqual(s2.players);
    const [a, b] = await Promise.all([mergeWindowFinds(redis, keys, scripts, H, { chunk: 5 }), mergeWindowFinds(redis, keys, scripts, H, { chunk: 5 })]);
    expect([a!.byUs, b!.byUs]).toContain(true);
    expect(await redis.exists(keys.merge(H))).toBe(0);
    expect((await readHuntState(redis, keys, H))!.players).toEqual(s2.players);
    // Each player in exactly its own bucket, once.
    const all = await redis.hgetall(keys.players(H));
    const seen = Object.entries(all).flatMap(([bucket, json]) => Object.keys(JSON.parse(json) as object).map((p) => [p, bucket] as const));
    expect(seen.length).toBe(Object.keys(s2.players).length);
    for (const [p, bucket] of seen) expect(bucket).toBe(playerBucket(p));
  });

  it('the merge list sent ahead: renamed into place by its commit, deleted by a refused one; a commit whose list is not there writes nothing', async () => {
    const staged = async () => (await redis.keys(`${keys.prefix}:*merge-staged*`)).length;
    const s1 = emptyHuntState(H);
    finder(s1, 'p1', 'rock', T0 + 1);
    const a1 = args({ state: s1, finds: findsJson(s1, ['p1']) });
    expect((await commitWindow(redis, keys, scripts, a1)).status).toBe('committed');
    expect(await staged()).toBe(0);
    expect(await redis.ttl(keys.mergeList(H))).toBe(-1);
    // Refused (unmerged; then stale): the list it sent is gone.
    expect((await commitWindow(redis, keys, scripts, args({ ...w2, state: s1, finds: findsJson(s1, ['p1']) }))).status).toBe('unmerged');
    expect((await commitWindow(redis, keys, scripts, args({ state: s1, finds: findsJson(s1, ['p1']) }))).status).toBe('stale');
    // A resend of the commit (its SET comes again too): recognised, and its list deleted.
    expect((await commitWindow(redis, keys, scripts, a1)).status).toBe('resent');
    expect(await staged()).toBe(0);
    await mergeWindowFinds(redis, keys, scripts, H);
    // The script alone, its list never sent: refused, nothing written.
    const a2 = args({ ...w2, state: s1, finds: 'x' });
    const k = [keys.closed(H), keys.state(H), keys.prizes(H), keys.pending(H), keys.late(H), keys.merge(H), keys.fanOut(H), keys.mergeList(H), keys.mergeStaged(H, 'never-sent')];
    expect(await scripts.lua.commitWindow.run(redis, k, [String(a2.expected), String(a2.start), String(a2.end), '{}', 0, 0, '1', 0])).toEqual({ code: -4, newPrizes: 0 });
    expect(await redis.get(keys.closed(H))).toBe(String(T0 + 10_000));
  });

  it('a merge chunk computed from a list already merged writes nothing, even with the next window\'s list there (a worker paused mid-merge)', async () => {
    const s1 = emptyHuntState(H);
    finder(s1, 'p1', 'rock', T0 + 1);
    await commit(args({ state: s1, finds: findsJson(s1, ['p1']) }));
    const s2 = structuredClone(s1);
    finder(s2, 'p2', 'rock', T0 + 10_001);
    expect((await commitWindow(redis, keys, scripts, args({ ...w2, prizes: [], state: s2, finds: findsJson(s2, ['p2']) }))).status).toBe('committed');
    const bucket = playerBucket('p1');
    const before = await redis.hget(keys.players(H), bucket);
    expect(await scripts.mergePlayers(redis, keys, H, T0 + 10_000, [[bucket, '{"stale":["srv-a",1]}']], true)).toBe(false);
    expect(await redis.hget(keys.players(H), bucket)).toBe(before);
    expect(await redis.hget(keys.merge(H), 'end')).toBe(String(T0 + 20_000));
  });
});

describe('record ingest (part seen, per hunt, part marked)', () => {
  it('groups a record\'s entries into one pending member per window, and finds them late or pending as a whole', async () => {
    const a = new EventMaker('srv-a');
    await ingestRecord(redis, keys, scripts, rec('srv-a', 1, T0, [a.rulesEv(T0)]));
    const res = await ingestRecord(redis, keys, scripts, rec('srv-a', 2, T0 + 20_000, [a.enter(T0 + 1, 'x'), a.enter(T0 + 2, 'y'), a.enter(T0 + 10_001, 'z')]));
    expect(res).toMatchObject({ applied: true, stored: 3, late: 0 });
    // rules + a chunk of two (window 0) + one entry (window 1)
    expect(await redis.zcard(keys.pending(SMALL))).toBe(3);
  });

  it('a chunk that would straddle `closed` (windows closed with another length) is sent again one member per event', async () => {
    const a = new EventMaker('srv-a');
    await ingestRecord(redis, keys, scripts, rec('srv-a', 1, T0, [a.rulesEv(T0)]));
    await redis.set(keys.closed(SMALL), String(T0 + 5000));
    const early = a.enter(T0 + 1000, 'early');
    const res = await ingestRecord(redis, keys, scripts, rec('srv-a', 2, T0 + 20_000, [early, a.enter(T0 + 7000, 'later')]));
    expect(res).toMatchObject({ applied: true, stored: 1, late: 1 });
    expect(await redis.smembers(keys.late(SMALL))).toEqual([`srv-a/1/${early.n}`]);
    expect((await redis.zrangebyscore(keys.pending(SMALL), T0 + 5000, '+inf')).map((m) => JSON.parse(m)[5])).toEqual(['later']);
  });
});
