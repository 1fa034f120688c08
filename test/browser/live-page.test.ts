/**
 * The live hunt page in a real headless Chromium: opened before a replay of the sample
 * fixture starts, it fills in by push (no reload) and ends up showing the worker's
 * leaderboard; neither its DOM nor anything it received over the network carries a
 * treasure's position; the admin view, opened through the login form, draws the map.
 * Writes docs/live-page.png and docs/live-page-admin.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { loadRulesFile } from '../../plugin/rules-file.js';
import { replay } from '../../cli/replay.js';
import { testStack } from '../support/stack.js';
import { coordinateStrings, expectedLeaderboard } from '../support/live-page-expect.js';
import { launchChromium } from './chromium.js';

const DIR = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;
const DOCS = new URL('../../docs/', import.meta.url).pathname;
// maxSpeed flags the fixture's teleporting players, so the admin map has suspects to show.
const RULES = { ...loadRulesFile(`${DIR}rules.json`), maxSpeed: 20 };
const TOKEN = 'cairn-dev-token';
const SECRET_KEYS = ['"at"', '"radius"', '"region"', '"clue"', '"map"', '"entries"'];

let browser: Awaited<ReturnType<typeof launchChromium>>;
let stack: Awaited<ReturnType<typeof testStack>>;
const started = performance.now();

beforeAll(async () => {
  browser = await launchChromium();
  stack = await testStack({ pagePort: 0 });
});
afterAll(async () => {
  await browser?.close();
  await stack?.cleanup();
  console.log(`browser test: ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

/** Everything the page received: response bodies and each SSE message (through the DevTools protocol). */
async function recordTraffic(page: Page): Promise<{ bodies: string[]; urls: string[] }> {
  const traffic = { bodies: [] as string[], urls: [] as string[] };
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.eventSourceMessageReceived', (e) => traffic.bodies.push(e.data));
  page.on('request', (r) => traffic.urls.push(r.url()));
  page.on('response', async (r) => {
    if ((r.headers()['content-type'] ?? '').startsWith('text/event-stream')) return;
    traffic.bodies.push(await r.text().catch(() => ''));
  });
  return traffic;
}

const text = (page: Page, sel: string) => page.locator(sel).innerText();

describe('live hunt page in Chromium', () => {
  it('fills in by push, shows the worker\'s leaderboard and leaks no treasure position', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    let navigations = 0;
    page.on('framenavigated', (f) => f === page.mainFrame() && navigations++);
    const traffic = await recordTraffic(page);
    const origin = stack.page!.url;

    await page.goto(`${origin}/hunts/${RULES.id}`);
    await page.locator('#feed.on').waitFor();
    expect(await text(page, '#windows-closed')).toBe('0');
    expect(await page.locator('#leaderboard tbody tr').count()).toBe(0);

    const result = await replay({ hunts: [RULES], traceFile: `${DIR}trace.ndjson`, gatewayUrl: stack.gateway!.url, token: TOKEN, graceMs: 0 });
    const windows = String(result.stats.windowsClosed);
    await page.waitForFunction((w) => document.getElementById('windows-closed')!.textContent === w && document.getElementById('prizes-pending')!.textContent === '0', windows);

    const want = await expectedLeaderboard(stack, RULES.id, result.prizes);
    const shown = await page.$$eval('#leaderboard tbody tr', (rows) =>
      rows.map((r) => ({ player: r.getAttribute('data-player')!, found: Number(r.querySelector('.found')!.textContent), prizes: r.querySelector('.prizes')!.textContent! })),
    );
    expect(shown).toEqual(want);
    expect(await text(page, '#prizes-decided')).toBe(String(result.prizes.length));
    expect(Number(await page.getAttribute('body', 'data-updates'))).toBeGreaterThan(1);
    expect(navigations).toBe(1);
    expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0);
    expect(await text(page, '#rate-events')).toMatch(/^[\d,]+$/);

    const dom = await page.content();
    const all = [dom, ...traffic.bodies].join('\n');
    for (const c of coordinateStrings(RULES.treasures)) expect(all).not.toContain(c);
    for (const k of SECRET_KEYS) expect(traffic.bodies.filter((b) => b.startsWith('{')).join('\n')).not.toContain(k);
    expect(traffic.bodies.some((b) => b.includes('"leaderboard"'))).toBe(true);
    expect(traffic.urls.every((u) => u.startsWith(origin))).toBe(true);
    expect(errors).toEqual([]);
    await page.screenshot({ path: `${DOCS}live-page.png`, fullPage: true });

    // The admin view: through the login form, the token in no URL.
    const admin = await browser.context.newPage();
    const adminUrls: string[] = [];
    admin.on('request', (r) => adminUrls.push(r.url()));
    // admin.js arrives after the feed's first snapshot (as on a loaded machine): the map must still be drawn.
    await admin.route('**/assets/admin.js', async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.continue();
    });
    await admin.goto(`${origin}/hunts/${RULES.id}/admin`);
    await admin.fill('input[name=token]', TOKEN);
    await admin.click('button[type=submit]');
    await admin.locator('#maps svg').first().waitFor();
    const regions = new Set(RULES.treasures.map((t) => t.region));
    expect(await admin.locator('#maps .map').count()).toBe(regions.size);
    expect(await admin.locator('#maps circle.suspect').count()).toBeGreaterThan(0);
    expect(await admin.locator('#suspects tbody tr').count()).toBeGreaterThan(0);
    expect(adminUrls.some((u) => u.includes(TOKEN))).toBe(false);
    await admin.screenshot({ path: `${DOCS}live-page-admin.png`, fullPage: true });
  });
});
