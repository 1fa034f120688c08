/**
 * Issue 3: the gateway is killed (an embedded instance closed without waiting for its
 * in-flight batches, then started again on the same port) over and over while the sample
 * fixture replays; the plugins reconnect, resend what was not acked, and the prizes are
 * still exactly expected.json.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRulesFile } from '../../plugin/rules-file.js';
import { replay } from '../../cli/replay.js';
import { prizeKeys } from '../support/trace-builder.js';
import { restartableStack, type RestartableStack } from './restartable-gateway.js';

const DIR = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;
const RULES = loadRulesFile(`${DIR}rules.json`);
const TRACE = `${DIR}trace.ndjson`;
const EXPECTED = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8'));

let env: RestartableStack | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('replay while the gateway is killed again and again', () => {
  it('still gives exactly the expected prizes', async () => {
    env = await restartableStack();
    const e = env;
    let done = false;
    let kills = 0;
    let windowsAtKill: number[] = [];
    let windows = 0;
    // A kill after every second window close, some way into the next window's feeding, so the
    // count does not depend on how fast the machine replays.
    const killer = (async () => {
      let last = 0;
      while (!done) {
        if (windows < last + 2) {
          await sleep(5);
          continue;
        }
        last = windows;
        await sleep((kills % 4) * 40);
        await e.kill();
        kills++;
        windowsAtKill.push(windows);
        await sleep(60 + (kills % 3) * 60);
        await e.revive();
      }
    })();
    let result;
    try {
      // 10 s windows: 15 window closes over the trace, so kills land between and during them
      result = await replay({
        hunts: [{ ...RULES, window: '10s' }],
        traceFile: TRACE,
        gatewayUrl: e.url,
        token: e.token,
        graceMs: 0,
        windowTimeoutMs: 30_000,
        onProgress: (p) => (windows = p.windows),
      });
    } finally {
      done = true;
      await killer;
    }
    expect(prizeKeys(result.prizes)).toEqual(EXPECTED);
    // the kills really happened during the replay, at different points of it
    expect(kills).toBeGreaterThanOrEqual(6);
    windowsAtKill = [...new Set(windowsAtKill)];
    expect(windowsAtKill.length).toBeGreaterThanOrEqual(6);
  });
});
