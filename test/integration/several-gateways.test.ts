/**
 * Two `cairn gateway` processes on one stream and Redis; the replay spreads its servers
 * over them, then one is killed with SIGKILL mid-replay and never comes back. Its plugins
 * move to the other gateway with their epoch and seqs, resend what was not acked (the
 * durable seqs in Redis are shared, so nothing is written twice for a batch the dead one
 * made durable), and the game gets exactly the expected prizes, none twice.
 */
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRulesFile } from '../../plugin/rules-file.js';
import { loadEnvConfig } from '../../backend/config.js';
import { freePort } from '../../backend/redis/embedded-server.js';
import { replay } from '../../cli/replay.js';
import { startStack, type Stack } from '../../cli/stack.js';
import type { ReplayHost } from '../../plugin/hosts/replay-host.js';
import { gatewayConnections, startGatewayProcess } from '../support/gateway-process.js';
import { deletePrefix, TEST_REDIS_URL } from '../support/redis.js';
import { prizeKeys } from '../support/trace-builder.js';

const DIR = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;
const RULES = loadRulesFile(`${DIR}rules.json`);
const TRACE = `${DIR}trace.ndjson`;
const EXPECTED = JSON.parse(readFileSync(`${DIR}expected.json`, 'utf8'));
const TOKEN = 'two-gateways-secret';

let stack: Stack | undefined;
const gateways: ChildProcess[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) {
    if (g.exitCode === null && g.signalCode === null) {
      g.kill('SIGKILL');
      await once(g, 'exit');
    }
  }
  if (stack) {
    await deletePrefix(stack.redis, stack.keys.prefix);
    await stack.stop();
  }
  stack = undefined;
});

const key = (g: { server: string; player: string; item: string; count: number }) => `${g.server}|${g.player}|${g.item}|${g.count}`;
const tally = (keys: string[]) => keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());

describe('a replay over two gateway processes', () => {
  it('spreads the servers over both; after kill -9 of one, its plugins move to the other: exactly the expected prizes in game, none twice', async () => {
    const config = loadEnvConfig({ CAIRN_REDIS_URL: TEST_REDIS_URL, CAIRN_REDIS_PREFIX: 'cairn-test', CAIRN_WINDOW_GRACE_MS: '0', CAIRN_KINESIS_SHARDS: '2' });
    // Redis, an embedded kinesalite and a worker in this process; the gateways are children.
    const s = (stack = await startStack({ config, embedded: true, gateway: false, workers: 1, isolate: true, pollMs: 20 }));
    const ports = [await freePort(), await freePort()];
    const [a, b] = await Promise.all(ports.map((p) => startGatewayProcess(s, p, TOKEN)));
    gateways.push(a!, b!);

    const hosts: ReplayHost[] = [];
    const connectionsBefore: number[] = [];
    let killedAt = 0;
    const result = await replay({
      hunts: [{ ...RULES, window: '10s' }],
      traceFile: TRACE,
      gatewayUrl: ports.map((p) => `ws://127.0.0.1:${p}`).join(','),
      token: TOKEN,
      graceMs: 0,
      windowTimeoutMs: 90_000,
      onHost: (h) => hosts.push(h),
      onProgress: async ({ windows }) => {
        if (windows !== 4) return;
        for (const p of ports) connectionsBefore.push(await gatewayConnections(p));
        // Killed a little way into feeding the next window, so batches are in flight; never restarted.
        setTimeout(() => {
          a!.kill('SIGKILL');
          killedAt = windows;
        }, 30);
      },
    });

    // Both gateways carried a server before the kill.
    expect(connectionsBefore).toEqual([1, 1]);
    // The first gateway died mid-replay and stayed dead: the rest went through the second.
    expect(killedAt).toBe(4);
    expect(a!.signalCode).toBe('SIGKILL');
    expect(result.stats.windowsClosed).toBeGreaterThan(killedAt);
    // The plugins' ledgers: exactly the expected prizes.
    expect(prizeKeys(result.prizes)).toEqual(EXPECTED);
    // The game: every granted prize given once, nothing else given.
    const given = hosts.flatMap((h) => h.given.map((g) => key({ server: h.serverId, ...g })));
    const granted = result.prizes.filter((p) => p.status === 'granted').map(key);
    expect(tally(given)).toEqual(tally(granted));
    expect(given.length + result.stats.prizesPending).toBe(EXPECTED.length);
  }, 300_000);
});
