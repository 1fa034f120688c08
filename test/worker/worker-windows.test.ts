/**
 * Window and watermark rules on a tiny hand-made hunt, where each event's effect is
 * known: a window waits for every server's watermark plus the grace, an incomplete
 * batch holds the watermark back, late events are counted and never folded, bad
 * records are skipped, and every server's stream gets window-closed entries.
 */
import { describe, expect } from 'vitest';
import { encode } from '../../protocol/index.js';
import { encodeRecord } from '../../backend/kinesis/record-format.js';
import { readDecidedPrizes, type Worker } from '../../worker/worker.js';
import { encodePendingEvent } from '../../worker/pending-events.js';
import { workerTest as it } from '../support/fixtures.js';
import { closedThrough, readStream, registerServers, waitFor, type Env } from './support/harness.js';
import { EventMaker, rec, SMALL, T0 } from './support/small-hunt.js';
import type { DiscreteEvent, HuntEvent } from '../../protocol/index.js';

/**
 * To show that something does NOT happen, let the worker do two more close passes: the
 * second began after the state under test was in place, so a window it could close would
 * be closed. Counted, not timed, so a slow machine cannot make the check pass vacuously.
 */
async function twoMorePasses(w: Worker): Promise<void> {
  const n = w.stats().closePasses;
  await waitFor('two more close passes', async () => w.stats().closePasses >= n + 2);
}

const winners = async (e: Env) => (await readDecidedPrizes(e.redis, e.keys, SMALL)).map((p) => `${p.reason}=${p.player}@${p.server}`);
const wmOfEpoch = async (e: Env, server: string, epoch: number) => {
  const v = await e.redis.hget(e.keys.watermark(server, epoch), 'wm');
  return v === null ? undefined : Number(v);
};
const wmOf = async (e: Env, server: string) => {
  const v = await e.redis.hget(e.keys.watermark(server, 1), 'wm');
  return v === null ? undefined : Number(v);
};

describe('worker windows', () => {
  it('a window does not close before every server watermark passed its end plus the grace', async ({ workerEnv }) => {
    const env = await workerEnv('frontier', 2);
    const a = new EventMaker('srv-a');
    const b = new EventMaker('srv-b');
    await registerServers(env.redis, env.keys, { 'srv-a': 1, 'srv-b': 1 });
    const w = await env.start({ graceMs: 500 });
    await env.put([
      rec('srv-a', 1, T0 + 25_000, [a.rulesEv(T0), a.start(T0 + 1000), a.enter(T0 + 2000, 'pa1')]),
      rec('srv-b', 1, T0 + 5000, [b.enter(T0 + 1500, 'pb1')]),
    ]);
    await waitFor('both watermarks', async () => (await wmOf(env!, 'srv-a')) === T0 + 25_000 && (await wmOf(env!, 'srv-b')) === T0 + 5000);
    await twoMorePasses(w);
    expect(await closedThrough(env.redis, env.keys, SMALL)).toBeUndefined();

    // srv-b one millisecond short of window end + grace: still open.
    await env.put([rec('srv-b', 2, T0 + 10_499, [])]);
    await waitFor('srv-b watermark', async () => (await wmOf(env!, 'srv-b')) === T0 + 10_499);
    await twoMorePasses(w);
    expect(await closedThrough(env.redis, env.keys, SMALL)).toBeUndefined();
    expect(await winners(env)).toEqual([]);

    await env.put([rec('srv-b', 3, T0 + 10_500, [])]);
    await waitFor('first window closed', async () => (await closedThrough(env!.redis, env!.keys, SMALL)) === T0 + 10_000);
    expect(await winners(env)).toEqual(['treasure:rock:1=pb1@srv-b', 'treasure:rock:2=pa1@srv-a']);
    expect((await readStream(env.redis, env.keys, 'srv-a')).map((e) => (e.kind === 'prize' ? e.reason : `closed ${e.start - T0}-${e.end - T0}`))).toEqual([
      'treasure:rock:2',
      'closed 0-10000',
    ]);
    expect((await readStream(env.redis, env.keys, 'srv-b')).map((e) => (e.kind === 'prize' ? e.reason : `closed ${e.start - T0}-${e.end - T0}`))).toEqual([
      'treasure:rock:1',
      'closed 0-10000',
    ]);
  });

  it('a batch missing a part holds the watermark back until the part arrives', async ({ workerEnv }) => {
    const env = await workerEnv('parts', 2);
    const a = new EventMaker('srv-a');
    await registerServers(env.redis, env.keys, { 'srv-a': 1 });
    const w = await env.start();
    const q1 = [a.rulesEv(T0), a.start(T0 + 100), a.enter(T0 + 200, 'x')];
    const q1last = a.enter(T0 + 300, 'y');
    const q2 = [a.enter(T0 + 12_000, 'z')];
    await env.put([rec('srv-a', 1, T0 + 1000, q1, 0, 2), rec('srv-a', 2, T0 + 30_000, q2)]);
    await waitFor('two records read', async () => w.stats().records === 2);
    expect(await wmOf(env, 'srv-a')).toBeUndefined();
    expect(await env.redis.hget(env.keys.batchDone('srv-a', 1), '2')).toBe(String(T0 + 30_000));
    expect(await env.redis.smembers(env.keys.batchParts('srv-a', 1, 1))).toEqual(['0']);
    // Retention: a batch still missing a part does not keep its keys forever.
    expect(await env.redis.pttl(env.keys.batchParts('srv-a', 1, 1))).toBeGreaterThan(0);
    expect(await env.redis.pttl(env.keys.batchDone('srv-a', 1))).toBeGreaterThan(0);
    await twoMorePasses(w);
    expect(await closedThrough(env.redis, env.keys, SMALL)).toBeUndefined();

    await env.put([rec('srv-a', 1, T0 + 1000, [q1last], 1, 2)]);
    await waitFor('watermark after both batches', async () => (await wmOf(env!, 'srv-a')) === T0 + 30_000);
    await waitFor('windows closed through the watermark', async () => (await closedThrough(env!.redis, env!.keys, SMALL)) === T0 + 30_000);
    expect(await env.redis.hget(env.keys.watermark('srv-a', 1), 'next')).toBe('3');
    expect(await env.redis.exists(env.keys.batchParts('srv-a', 1, 1), env.keys.batchDone('srv-a', 1))).toBe(0);
    expect(await winners(env)).toEqual(['treasure:rock:1=x@srv-a', 'treasure:rock:2=y@srv-a', 'treasure:rock:3=z@srv-a']);
  });

  it('late events are counted, kept in the late set and never folded; every server gets window-closed entries', async ({ workerEnv }) => {
    const env = await workerEnv('late', 2);
    const a = new EventMaker('srv-a');
    await registerServers(env.redis, env.keys, { 'srv-a': 1, 'srv-c': 1 });
    const w = await env.start();
    await env.put([rec('srv-a', 1, T0 + 15_000, [a.rulesEv(T0), a.start(T0), a.enter(T0 + 5000, 'early')]), rec('srv-c', 1, T0 + 15_000, [])]);
    await waitFor('first window closed', async () => (await closedThrough(env!.redis, env!.keys, SMALL)) === T0 + 10_000);

    // Late at ingest: its window is closed, so it goes to the late set, not to pending.
    const sneaky = a.enter(T0 + 4000, 'sneaky');
    await env.put([rec('srv-a', 2, T0 + 15_000, [sneaky])]);
    await waitFor('late event counted', async () => w.stats().lateEvents === 1);
    expect(await env.redis.sismember(env.keys.late(SMALL), `srv-a/1/${sneaky.n}`)).toBe(1);
    expect(await env.redis.zcard(env.keys.pending(SMALL))).toBe(0);

    // Late in pending (it slipped in while a commit ran): found at the next close, moved, not folded.
    const ghost: HuntEvent = { k: 'enter', e: 1, n: 999, t: T0 + 3000, p: 'ghost', hunt: SMALL, tr: 'rock', region: 'r', at: [0, 0, 0], server: 'srv-a' };
    await env.redis.zadd(env.keys.pending(SMALL), ghost.t, encodePendingEvent(ghost));
    await env.put([rec('srv-a', 3, T0 + 25_000, [a.enter(T0 + 12_000, 'later')]), rec('srv-c', 2, T0 + 25_000, [])]);
    await waitFor('second window closed', async () => (await closedThrough(env!.redis, env!.keys, SMALL)) === T0 + 20_000);
    expect(w.stats().lateEvents).toBe(2);
    expect(await env.redis.sismember(env.keys.late(SMALL), 'srv-a/1/999')).toBe(1);
    expect(await env.redis.zcard(env.keys.pending(SMALL))).toBe(0);
    expect(await winners(env)).toEqual(['treasure:rock:1=early@srv-a', 'treasure:rock:2=later@srv-a']);

    const show = (e: Awaited<ReturnType<typeof readStream>>[number]) => (e.kind === 'prize' ? `${e.reason}=${e.player}` : `closed ${e.start - T0}-${e.end - T0}`);
    expect((await readStream(env.redis, env.keys, 'srv-a')).map(show)).toEqual([
      'treasure:rock:1=early', 'closed 0-10000', 'treasure:rock:2=later', 'closed 10000-20000',
    ]);
    // A server with no prizes still learns that each window's prizes are all in.
    expect((await readStream(env.redis, env.keys, 'srv-c')).map(show)).toEqual(['closed 0-10000', 'closed 10000-20000']);
  });

  it('bad records and malformed events are logged, counted and skipped; the worker carries on', async ({ workerEnv }) => {
    const env = await workerEnv('bad', 2);
    const a = new EventMaker('srv-a');
    await registerServers(env.redis, env.keys, { 'srv-a': 1 });
    const w = await env.start();
    const broken = { k: 'enter', e: 1, n: 50, t: T0 + 600, p: 'q' } as unknown as DiscreteEvent; // no hunt, tr, region
    await env.put([
      Buffer.from('definitely not msgpack \xff\xfe'),
      encode({ v: 3, s: 'srv-a', e: 1, q: 9, pt: 0, np: 1, wm: 0, ev: [] }),
      encodeRecord(rec('srv-a', 1, T0, [], 3, 2)), // part index out of range
      encodeRecord(rec('srv-a', 1, T0 + 20_000, [a.rulesEv(T0), a.start(T0), a.enter(T0 + 500, 'p'), broken])),
    ]);
    await waitFor('window closed past the good record', async () => (await closedThrough(env!.redis, env!.keys, SMALL)) === T0 + 20_000);
    expect(w.stats()).toMatchObject({ records: 1, badRecords: 3, badEvents: 1, events: 4 });
    expect(await winners(env)).toEqual(['treasure:rock:1=p@srv-a']);
  });

  it('a hunt window length comes from its rules, and no window closes without servers or watermarks', async ({ workerEnv }) => {
    const env = await workerEnv('nowm', 1);
    const a = new EventMaker('srv-a', 1, { ...new EventMaker('x').rules, window: '5s' });
    const w = await env.start();
    await env.put([rec('srv-a', 1, T0 + 60_000, [a.rulesEv(T0), a.start(T0), a.enter(T0 + 6000, 'p')])]);
    await waitFor('record read', async () => w.stats().records === 1);
    expect(await env.redis.get(env.keys.window(SMALL))).toBe('5000');
    await twoMorePasses(w);
    // No server registered yet: nothing closes, whatever the watermarks.
    expect(await closedThrough(env.redis, env.keys, SMALL)).toBeUndefined();
    await registerServers(env.redis, env.keys, { 'srv-a': 1, 'srv-new': 1 });
    await twoMorePasses(w);
    // srv-new said hello but has no watermark yet: still nothing.
    expect(await closedThrough(env.redis, env.keys, SMALL)).toBeUndefined();
    await env.redis.hdel(env.keys.servers(), 'srv-new');
    await waitFor('closed', async () => (await closedThrough(env!.redis, env!.keys, SMALL)) === T0 + 60_000);
    expect((await readStream(env.redis, env.keys, 'srv-a')).filter((e) => e.kind === 'closed').map((e) => e.kind === 'closed' && [e.start - T0, e.end - T0])).toEqual([
      [0, 5000],
      [5000, 10_000],
      [10_000, 60_000],
    ]);
  });

  it('a server silent longer than the timeout stops holding windows back; its events for closed windows are late', async ({ workerEnv }) => {
    const env = await workerEnv('silent', 2);
    const a = new EventMaker('srv-a');
    const b = new EventMaker('srv-b');
    await registerServers(env.redis, env.keys, { 'srv-a': 1, 'srv-b': 1 });
    const w = await env.start({ silentServerMs: 1000 });
    // Taken before srv-b's record is ingested, so the record's time ('at') is not earlier than this.
    const quietSince = Date.now();
    await env.put([rec('srv-b', 1, T0 + 500, [])]);
    await waitFor('srv-b watermark', async () => (await wmOf(env!, 'srv-b')) === T0 + 500);
    await env.put([rec('srv-a', 1, T0 + 30_000, [a.rulesEv(T0), a.start(T0), a.enter(T0 + 3000, 'pa')])]);
    // srv-a stays active, as a plugin's heartbeats keep it: only srv-b falls silent.
    let q = 2;
    let beating = Promise.resolve();
    const heartbeat = setInterval(() => (beating = beating.then(() => env.put([rec('srv-a', q++, T0 + 30_000, [])]))), 250);
    try {
      await waitFor('windows closed without srv-b', async () => (await closedThrough(env!.redis, env!.keys, SMALL)) === T0 + 30_000, 10_000);
    } finally {
      clearInterval(heartbeat);
      await beating;
    }
    expect(Date.now() - quietSince).toBeGreaterThanOrEqual(1000);
    await env.put([rec('srv-b', 2, T0 + 40_000, [b.enter(T0 + 2000, 'pb')])]);
    await waitFor('srv-b event late', async () => w.stats().lateEvents === 1);
    expect(await winners(env)).toEqual(['treasure:rock:1=pa@srv-a']);
  });

  it('a server that said hello and never sent a record stops holding windows back after the silent timeout', async ({ workerEnv }) => {
    const env = await workerEnv('mute', 2);
    const a = new EventMaker('srv-a');
    await registerServers(env.redis, env.keys, { 'srv-a': 1, 'srv-mute': 1 });
    await env.start({ silentServerMs: 500 });
    await env.put([rec('srv-a', 1, T0 + 30_000, [a.rulesEv(T0), a.start(T0), a.enter(T0 + 3000, 'pa')])]);
    // Held back at first (srv-mute may still send), then closed without it: it has no watermark at all, not even an old one.
    await waitFor('windows closed without srv-mute', async () => (await closedThrough(env!.redis, env!.keys, SMALL)) === T0 + 30_000, 10_000);
    expect(await env.redis.exists(env.keys.watermark('srv-mute', 1))).toBe(0);
    expect(await winners(env)).toEqual(['treasure:rock:1=pa@srv-a']);
  });

  it('retention: once a newer epoch of a server said hello, the old epoch\'s watermark keys expire; the current ones do not', async ({ workerEnv }) => {
    const env = await workerEnv('epochs', 1);
    const a1 = new EventMaker('srv-a', 1);
    const a2 = new EventMaker('srv-a', 2);
    await registerServers(env.redis, env.keys, { 'srv-a': 1 });
    const w = await env.start();
    await env.put([rec('srv-a', 1, T0 + 1000, [a1.rulesEv(T0), a1.start(T0)], 0, 1, 1), rec('srv-a', 3, T0 + 2000, [], 0, 1, 1)]);
    await waitFor('epoch 1 records read', async () => w.stats().records === 2);
    expect(await env.redis.pttl(env.keys.watermark('srv-a', 1))).toBe(-1);
    // The plugin restarts: epoch 2 says hello (the gateway's registry), then sends.
    await registerServers(env.redis, env.keys, { 'srv-a': 2 });
    await env.put([rec('srv-a', 1, T0 + 5000, [a2.enter(T0 + 4000, 'p')], 0, 1, 2)]);
    await waitFor('old epoch keys given a TTL', async () => (await env!.redis.pttl(env!.keys.watermark('srv-a', 1))) > 0);
    expect(await env.redis.pttl(env.keys.batchDone('srv-a', 1))).toBeGreaterThan(0); // seq 3 waits for seq 2 there
    await waitFor('epoch 2 watermark', async () => (await wmOfEpoch(env!, 'srv-a', 2)) === T0 + 5000);
    expect(await env.redis.pttl(env.keys.watermark('srv-a', 2))).toBe(-1);
  });

  it('bad options and a missing stream fail at start with a clear error', async ({ workerEnv }) => {
    const env = await workerEnv('opts', 1);
    await expect(env.start({ pollMs: 0 })).rejects.toMatchObject({ code: 'CAIRN_ERR_CONFIG_INVALID', message: expect.stringContaining('pollMs=0') });
    await expect(env.start({ stream: 'no-such-stream-here' })).rejects.toMatchObject({
      code: 'CAIRN_ERR_KINESIS_UNAVAILABLE',
      message: expect.stringContaining('no-such-stream-here'),
    });
  });
});
