/**
 * The live hunt page's server against a real stack: the sample fixture replayed with the
 * page on, then its feeds read as a browser would (the browser itself: test/browser/).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRulesFile } from '../../plugin/rules-file.js';
import { replay, type ReplayResult } from '../../cli/replay.js';
import type { AdminSnapshot, PublicSnapshot } from '../../gateway/live-page/state-reader.js';
import { testStack } from '../support/stack.js';
import { readSse } from '../support/sse.js';
import { coordinateStrings, expectedLeaderboard, onlineAtEnd, prizeText } from '../support/live-page-expect.js';

const DIR = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;
const TRACE = `${DIR}trace.ndjson`;
// maxSpeed flags the fixture's teleporting players, so the admin map has suspects to show.
const RULES = { ...loadRulesFile(`${DIR}rules.json`), maxSpeed: 20 };
const TOKEN = 'cairn-dev-token';

type Msg<S> = { snapshot?: S; rates: unknown[] };

let stack: Awaited<ReturnType<typeof testStack>>;
let result: ReplayResult;
let base: string;

beforeAll(async () => {
  stack = await testStack({ pagePort: 0 });
  base = `${stack.page!.url}/hunts/${RULES.id}`;
  result = await replay({ hunts: [RULES], traceFile: TRACE, gatewayUrl: stack.gateway!.url, token: TOKEN, graceMs: 0 });
});
afterAll(async () => {
  await stack?.cleanup();
});

const settled = <S extends PublicSnapshot>(m: Msg<S>) => m.snapshot !== undefined && m.snapshot.windowsClosed === result.stats.windowsClosed && m.snapshot.prizes.pending === 0;

describe('live hunt page', () => {
  it('shows the worker\'s leaderboard, finds, prizes, windows and players online', async () => {
    const { messages } = await readSse<Msg<PublicSnapshot>>(`${base}/live`, settled);
    const s = messages.at(-1)!.snapshot!;
    const want = await expectedLeaderboard(stack, RULES.id, result.prizes);
    expect(want.length).toBe(10);
    expect(s.leaderboard.map((r) => ({ player: r.player, found: r.found, prizes: prizeText(new Map(r.prizes.map((p) => [p.item, p.count]))) }))).toEqual(want);
    expect(s.prizes).toEqual({ decided: result.prizes.length, granted: result.prizes.length, pending: 0 });
    expect(s.windowsClosed).toBe(stack.workers[0]!.stats().windowsClosed);
    const finds = Object.fromEntries(RULES.treasures.map((t) => [t.id, new Set(result.prizes.filter((p) => p.reason.startsWith(`treasure:${t.id}:`))).size]));
    expect(Object.fromEntries(s.treasures.map((t) => [t.id, t.finders]))).toEqual(finds);
    expect(Object.fromEntries(s.online.map((o) => [o.server, o.players]))).toEqual(onlineAtEnd(TRACE));
    expect(s.running).toBe(false);
  });

  it('gives the public no treasure position, radius, region, clue or player position', async () => {
    const { raw, messages } = await readSse<Msg<PublicSnapshot>>(`${base}/live`, settled);
    expect(messages.length).toBeGreaterThan(0);
    for (const key of ['"at"', '"radius"', '"region"', '"clue"', '"map"', '"entries"', '"suspect']) expect(raw).not.toContain(key);
    for (const c of coordinateStrings(RULES.treasures)) expect(raw).not.toContain(c);
    const html = await (await fetch(base)).text();
    for (const t of RULES.treasures) expect(html).not.toContain(t.clue!);
  });

  it('keeps the admin view behind the token, and shows admins the map with suspects', async () => {
    expect((await fetch(`${base}/admin/live`)).status).toBe(401);
    const login = await fetch(`${base}/admin`);
    expect(login.status).toBe(401);
    expect(await login.text()).toContain('name="token"');
    const wrong = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ token: 'nope' }), redirect: 'manual' });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' });
    expect(right.status).toBe(303);
    const cookie = right.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).not.toContain(TOKEN);
    expect(right.headers.get('location')).toBe(`/hunts/${RULES.id}/admin`);
    expect((await fetch(`${base}/admin`, { headers: { cookie } })).status).toBe(200);

    const { messages } = await readSse<Msg<AdminSnapshot>>(`${base}/admin/live`, settled, { headers: { cookie } });
    const s = messages.at(-1)!.snapshot!;
    expect(s.map.treasures.map((t) => [t.id, t.region, t.at, t.radius])).toEqual(RULES.treasures.map((t) => [t.id, t.region, t.at, t.radius]));
    expect(s.map.entries.length).toBeGreaterThan(0);
    expect(s.suspects).toBeGreaterThan(0);
    expect(s.map.entries.some((e) => e.suspect)).toBe(true);
    const bearer = await readSse<Msg<AdminSnapshot>>(`${base}/admin/live`, settled, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bearer.messages.at(-1)!.snapshot!.suspects).toBe(s.suspects);
  });

  it('answers unknown paths and bad hunt ids with 404', async () => {
    expect((await fetch(`${stack.page!.url}/hunts/..%2Fetc`)).status).toBe(404);
    expect((await fetch(`${stack.page!.url}/nope`)).status).toBe(404);
    expect((await fetch(`${stack.page!.url}/vendor/uPlot.iife.min.js`)).status).toBe(200);
  });
});
