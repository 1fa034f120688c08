/**
 * The sample fixture through the whole pipeline (plugins, WebSocket, gateway,
 * kinesalite, worker, Redis, delivery, ledger) must give exactly expected.json, and the
 * same prizes whatever the batch size, flush interval and window length, and run as
 * `cairn replay` runs it (back end on a second thread, lines from the validating pass).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { HuntRules } from '../../protocol/index.js';
import { loadRulesFile } from '../../plugin/rules-file.js';
import { replay } from '../../cli/replay.js';
import { prizeKeys } from '../support/trace-builder.js';
import { testStack } from '../support/stack.js';
import { deletePrefix, TEST_REDIS_URL } from '../support/redis.js';
import { connectRedis } from '../../backend/redis/connect.js';
import { loadEnvConfig } from '../../backend/config.js';
import { ReplayThread } from '../../cli/replay-thread.js';
import { validateTrace } from '../../plugin/hosts/trace-segments.js';

const DIR = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;
const RULES = loadRulesFile(`${DIR}rules.json`);
const TRACE = `${DIR}trace.ndjson`;
const EXPECTED = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8'));

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function run(hunts: HuntRules[], opts: { flushIntervalMs?: number; batchMaxEvents?: number; workers?: number; idleReadMs?: number; windowTimeoutMs?: number } = {}) {
  const { workers, idleReadMs, ...replayOpts } = opts;
  const stack = await testStack({ workers: workers ?? 1, ...(idleReadMs !== undefined ? { idleReadMs } : {}) });
  cleanup = stack.cleanup;
  return replay({ hunts, traceFile: TRACE, gatewayUrl: stack.gateway!.url, token: 'cairn-dev-token', graceMs: 0, ...replayOpts });
}

describe('replay of the sample fixture', () => {
  it('gives exactly the expected prizes', async () => {
    const { prizes, stats } = await run([RULES]);
    expect(prizeKeys(prizes)).toEqual(EXPECTED);
    expect(prizes.every((p) => p.status === 'granted' || p.status === 'pending')).toBe(true);
    expect(stats.traceLines).toBe(28013);
    expect(stats.windowsClosed).toBeGreaterThanOrEqual(3);
  });

  it('gives the same prizes with tiny batches, a slow flush and 10 s windows', async () => {
    const { prizes } = await run([{ ...RULES, window: '10s' }], { batchMaxEvents: 7, flushIntervalMs: 1000 });
    expect(prizeKeys(prizes)).toEqual(EXPECTED);
  });

  it('gives the same prizes with one window for the whole trace and two workers', async () => {
    const { prizes } = await run([{ ...RULES, window: '10m' }], { flushIntervalMs: 50, workers: 2 });
    expect(prizeKeys(prizes)).toEqual(EXPECTED);
  });

  it("reads what the stack's gateway puts at once: workers polling an idle stream once a minute close every window in time", async () => {
    // Without the gateway waking the readers, the first window would wait a minute for a read.
    const { prizes } = await run([RULES], { idleReadMs: 60_000, windowTimeoutMs: 20_000 });
    expect(prizeKeys(prizes)).toEqual(EXPECTED);
  });

  it('gives exactly the expected prizes as `cairn replay` runs it: back end on the second thread, lines from the validation shared with it', async () => {
    const config = loadEnvConfig({ CAIRN_REDIS_URL: TEST_REDIS_URL, CAIRN_REDIS_PREFIX: 'cairn-test', CAIRN_WINDOW_GRACE_MS: '0' });
    const thread = ReplayThread.start();
    let prefix: string | undefined;
    cleanup = async () => {
      await thread.close();
      if (prefix === undefined) return;
      const redis = await connectRedis(TEST_REDIS_URL);
      await deletePrefix(redis, prefix);
      redis.disconnect();
    };
    await thread.ready;
    // Small segments, so both threads read some and the blocks meet inside lines' worth of text.
    const trace = await validateTrace(TRACE, { helpers: [thread], segmentBytes: 64 * 1024 });
    expect(trace.parts.every((p) => 'block' in p)).toBe(true);
    const backEnd = await thread.startStack(config);
    prefix = backEnd.redisPrefix;
    const { prizes, stats } = await replay({ hunts: [RULES], traceFile: TRACE, trace, gatewayUrl: backEnd.gatewayUrl, token: config.token, graceMs: 0 });
    expect(prizeKeys(prizes)).toEqual(EXPECTED);
    expect(stats.traceLines).toBe(28013);
  });
});
