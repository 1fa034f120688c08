/**
 * `npm run bench:host` (in hosts/flying-squid): what Cairn costs a flying-squid server.
 * For each player count, the same server (the example server's world, in its own process)
 * runs twice, side by side in one run: without Cairn, then with Cairn and the example
 * hunt running, joined to a back end in this process. N mineflayer bots in another
 * process walk (no sprint, no teleport) between random points near spawn. Measured in the
 * server process over the same span: CPU %, peak RSS, event-loop delay p99
 * (monitorEventLoopDelay), Cairn's flush slice p99, moves seen per second, and suspects
 * among the walking bots.
 *
 * Goals: CPU ratio (with / without) <= 1.05, flush slice p99 <= 1 ms at 25 players,
 * 0 suspects. Options: --players 10,25  --duration 45s  --version 1.16.5.
 * Prints a table, each goal met or missed with its ratio, then one JSON line.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadEnvConfig } from '../../../backend/config.js';
import { startStack } from '../../../cli/stack.js';
import { parseDuration } from '../../../protocol/index.js';
import type { ServerFigures } from './bench-server.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const { values } = parseArgs({ options: { players: { type: 'string', default: '10,25' }, duration: { type: 'string', default: '45s' }, version: { type: 'string', default: '1.16.5' } } });
const PLAYERS = values.players!.split(',').map(Number);
const DURATION_MS = parseDuration(values.duration!);
const CPU_GOAL = 1.05;
const SLICE_GOAL_MS = 1;

function child(file: string, args: string[]): ChildProcess {
  return fork(here(file), args, { execArgv: ['--import', 'tsx'], cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

async function message<T>(c: ChildProcess, k: string, timeoutMs = 180_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${k}' from ${c.spawnargs.join(' ')} within ${timeoutMs} ms`)), timeoutMs);
    const onMsg = (m: { k: string }) => {
      if (m.k !== k) return;
      clearTimeout(timer);
      c.off('message', onMsg);
      resolve(m as T);
    };
    c.on('message', onMsg);
    c.once('exit', (code) => reject(new Error(`${c.spawnargs.join(' ')} exited (${code}) before '${k}'`)));
  });
}

async function measure(players: number, cairn: boolean, gateway: string): Promise<ServerFigures> {
  const server = child('bench-server.ts', [...(cairn ? ['--cairn', '--gateway', gateway] : []), '--version', values.version!]);
  try {
    const { port } = await message<{ port: number }>(server, 'ready');
    const bots = child('bench-bots.ts', ['--port', String(port), '--players', String(players), '--version', values.version!]);
    try {
      await message(bots, 'ready');
      server.send({ k: 'start' });
      await message(server, 'started');
      await new Promise((r) => setTimeout(r, DURATION_MS));
      server.send({ k: 'stop' });
      const { figures } = await message<{ figures: ServerFigures }>(server, 'figures');
      return figures;
    } finally {
      if (bots.connected) bots.send({ k: 'stop' });
      await Promise.race([once(bots, 'exit'), new Promise((r) => setTimeout(r, 10_000))]);
      if (bots.exitCode === null) bots.kill('SIGKILL');
    }
  } finally {
    if (server.connected) server.send({ k: 'quit' });
    await Promise.race([once(server, 'exit'), new Promise((r) => setTimeout(r, 10_000))]);
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}

const f = (n: number | null, d = 2) => (n === null ? '-' : n.toFixed(d));

export async function run(): Promise<Record<string, number | string>> {
  // as bin/cairn.js: the AWS SDK's Node-version notice, on construction of the Kinesis client
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.env.CAIRN_LOG_LEVEL ??= 'warn';
  const stack = await startStack({ config: loadEnvConfig({ ...process.env, CAIRN_LOG_LEVEL: 'warn' }), embedded: true, gateway: true, workers: 1, isolate: true, port: 0 });
  const result: Record<string, number | string> = { durationMs: DURATION_MS, version: values.version! };
  const rows: string[] = [];
  const verdicts: string[] = [];
  try {
    for (const n of PLAYERS) {
      const without = await measure(n, false, stack.gateway!.url);
      const withCairn = await measure(n, true, stack.gateway!.url);
      const ratio = withCairn.cpuPercent / without.cpuPercent;
      for (const [label, x] of [['without Cairn', without], ['with Cairn', withCairn]] as const) {
        rows.push(`${String(n).padStart(7)} | ${label.padEnd(13)} | ${f(x.cpuPercent, 1).padStart(6)} | ${f(x.rssMiB, 0).padStart(7)} | ${f(x.eventLoopDelayP99Ms).padStart(9)} | ${f(x.flushSliceP99Ms, 3).padStart(11)} | ${(label === 'with Cairn' ? f(x.movesPerSec, 0) : '-').padStart(7)} | ${x.suspects ?? '-'}`);
      }
      const goal = (what: string, ok: boolean, detail: string) => verdicts.push(`${n} players: ${what}: ${ok ? 'met' : 'MISSED'} (${detail})`);
      goal(`CPU ratio <= ${CPU_GOAL}`, ratio <= CPU_GOAL, `${ratio.toFixed(3)}, ${(ratio / CPU_GOAL).toFixed(2)}x the goal`);
      if (n >= 25) goal(`flush slice p99 <= ${SLICE_GOAL_MS} ms`, withCairn.flushSliceP99Ms! <= SLICE_GOAL_MS, `${f(withCairn.flushSliceP99Ms, 3)} ms, ${(withCairn.flushSliceP99Ms! / SLICE_GOAL_MS).toFixed(2)}x the goal`);
      goal('0 suspects among walking bots', withCairn.suspects === 0, `${withCairn.suspects}`);
      Object.assign(result, {
        [`p${n}CpuWithout`]: +without.cpuPercent.toFixed(2),
        [`p${n}CpuWith`]: +withCairn.cpuPercent.toFixed(2),
        [`p${n}CpuRatio`]: +ratio.toFixed(3),
        [`p${n}RssWithoutMiB`]: Math.round(without.rssMiB),
        [`p${n}RssWithMiB`]: Math.round(withCairn.rssMiB),
        [`p${n}EldP99WithoutMs`]: +without.eventLoopDelayP99Ms.toFixed(2),
        [`p${n}EldP99WithMs`]: +withCairn.eventLoopDelayP99Ms.toFixed(2),
        [`p${n}FlushSliceP99Ms`]: +withCairn.flushSliceP99Ms!.toFixed(3),
        [`p${n}MovesPerSec`]: Math.round(withCairn.movesPerSec),
        [`p${n}Suspects`]: withCairn.suspects!,
      });
    }
  } finally {
    await stack.stop();
  }
  process.stdout.write(
    `\nflying-squid ${values.version}, ${DURATION_MS / 1000} s measured per run; figures of the server process\n` +
      `players | server        |  CPU % | RSS MiB | ELD p99 ms | flush p99 ms | moves/s | suspects\n` +
      rows.join('\n') +
      '\n\n' +
      verdicts.join('\n') +
      '\n',
  );
  return result;
}

const result = await run();
process.stdout.write(JSON.stringify({ bench: 'host-cost', ...result }) + '\n');
process.exit(0);
