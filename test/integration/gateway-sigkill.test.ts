/**
 * The gateway as a real process (`cairn gateway`), killed with SIGKILL again and again
 * while the sample fixture replays through it: no close frame, no 1001, writes in flight
 * simply gone. The plugins reconnect to the restarted process, resend what was not
 * acked, and the game (each replay host's record of what it gave) gets exactly the
 * expected prizes, none twice.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRulesFile } from '../../plugin/rules-file.js';
import { loadEnvConfig } from '../../backend/config.js';
import { freePort } from '../../backend/redis/embedded-server.js';
import { replay } from '../../cli/replay.js';
import { startStack, type Stack } from '../../cli/stack.js';
import type { ReplayHost } from '../../plugin/hosts/replay-host.js';
import { deletePrefix, TEST_REDIS_URL } from '../support/redis.js';
import { prizeKeys } from '../support/trace-builder.js';
import { startGatewayProcess } from '../support/gateway-process.js';

const DIR = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;
const RULES = loadRulesFile(`${DIR}rules.json`);
const TRACE = `${DIR}trace.ndjson`;
const EXPECTED = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8'));
const TOKEN = 'sigkill-secret';

let stack: Stack | undefined;
let gateway: ChildProcess | undefined;
afterEach(async () => {
  if (gateway && gateway.exitCode === null && gateway.signalCode === null) {
    gateway.kill('SIGKILL');
    await once(gateway, 'exit');
  }
  gateway = undefined;
  if (stack) {
    await deletePrefix(stack.redis, stack.keys.prefix);
    await stack.stop();
  }
  stack = undefined;
});

const key = (g: { server: string; player: string; item: string; count: number }) => `${g.server}|${g.player}|${g.item}|${g.count}`;
const tally = (keys: string[]) => keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());

describe('replay while the gateway process is killed with SIGKILL', () => {
  it('gives exactly the expected prizes in game, none twice', async () => {
    const config = loadEnvConfig({ CAIRN_REDIS_URL: TEST_REDIS_URL, CAIRN_REDIS_PREFIX: 'cairn-test', CAIRN_WINDOW_GRACE_MS: '0', CAIRN_KINESIS_SHARDS: '2' });
    // Redis, an embedded kinesalite and a worker in this process; only the gateway is a child.
    const s = (stack = await startStack({ config, embedded: true, gateway: false, workers: 1, isolate: true, pollMs: 20 }));
    const port = await freePort();
    gateway = await startGatewayProcess(s, port, TOKEN);

    const hosts: ReplayHost[] = [];
    let windows = 0;
    let done = false;
    let kills = 0;
    const windowsAtKill: number[] = [];
    let progressed: () => void = () => {};
    // A kill after every fourth window close, some way into feeding the next window (so
    // batches are in flight), then a fresh process on the same port. Starting the process
    // takes seconds (tsx), so three kills over the 15 windows keep the test under a minute.
    const killer = (async () => {
      let last = 0;
      while (!done) {
        if (windows < last + 4) {
          await new Promise<void>((r) => (progressed = r));
          continue;
        }
        last = windows;
        await new Promise((r) => setTimeout(r, (kills % 3) * 50));
        if (done) break;
        const victim = gateway!;
        victim.kill('SIGKILL');
        const [, signal] = (await once(victim, 'exit')) as [number | null, string | null];
        expect(signal).toBe('SIGKILL');
        kills++;
        windowsAtKill.push(windows);
        gateway = await startGatewayProcess(s, port, TOKEN);
      }
    })();
    let result;
    try {
      // 10 s windows: 15 window closes over the trace.
      result = await replay({
        hunts: [{ ...RULES, window: '10s' }],
        traceFile: TRACE,
        gatewayUrl: `ws://127.0.0.1:${port}`,
        token: TOKEN,
        graceMs: 0,
        windowTimeoutMs: 90_000,
        onHost: (h) => hosts.push(h),
        onProgress: (p) => {
          windows = p.windows;
          progressed();
        },
      });
    } finally {
      done = true;
      progressed();
      await killer;
    }

    // The plugins' ledgers: exactly the expected prizes.
    expect(prizeKeys(result.prizes)).toEqual(EXPECTED);
    // The game: every granted prize given once, nothing else given.
    const given = hosts.flatMap((h) => h.given.map((g) => key({ server: h.serverId, ...g })));
    const granted = result.prizes.filter((p) => p.status === 'granted').map(key);
    expect(tally(given)).toEqual(tally(granted));
    expect(given.length + result.stats.prizesPending).toBe(EXPECTED.length);
    // The kills happened, at different points of the replay.
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(new Set(windowsAtKill).size).toBeGreaterThanOrEqual(3);
  }, 300_000);
});
