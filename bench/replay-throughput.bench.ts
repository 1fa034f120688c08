/**
 * End-to-end `cairn replay` throughput: a generated trace of 1 M lines through what the
 * command runs (cli/replay-command.ts): the validating first pass over the trace, shared
 * by the main thread and the replay's second thread and kept as compact blocks, then the
 * replay itself from those blocks (one plugin per server on the main thread, each over its
 * own WebSocket, and kinesalite beside them; the gateway, a worker, Redis and prize delivery
 * on the second thread; the plugins' ledgers). The second thread and its back end are
 * started before the clock starts, as the back end always was here.
 *
 * Baseline printed next to it: reading and validating the trace alone, one line at a time
 * on one thread (readTrace), measured in the same run. Goal: the replay at >= 0.50x that rate.
 *
 * The trace: 2 servers x 500 players, each moving at 10 Hz around the treasures of
 * hunts/spring.json (so finds happen), an admin starting the hunt; 100 s of game time.
 * It is written to a temporary file and removed afterwards.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRulesFile } from '../plugin/rules-file.js';
import { loadEnvConfig } from '../backend/config.js';
import { ReplayThread } from '../cli/replay-thread.js';
import { replay } from '../cli/replay.js';
import { rng } from '../plugin/hosts/sim-host.js';
import { readTrace } from '../plugin/hosts/trace.js';
import { validateTrace } from '../plugin/hosts/trace-segments.js';
import { fmt, type BenchResult } from './run.js';

const RULES = new URL('../hunts/spring.json', import.meta.url).pathname;
const LINES = 1_000_000;
const SERVERS = ['srv-a', 'srv-b'];
const PLAYERS_PER_SERVER = 500;
const MOVE_HZ = 10;
const T0 = Date.UTC(2026, 11, 1, 18, 0, 0);


export async function writeTrace(file: string): Promise<number> {
  const rules = loadRulesFile(RULES);
  const random = rng(11);
  const spots = rules.treasures.map((t) => ({ region: t.region, at: t.at }));
  const out = createWriteStream(file);
  let buf = '';
  let lines = 0;
  const line = (o: object) => {
    buf += JSON.stringify(o) + '\n';
    lines++;
    if (buf.length > 1 << 16) {
      const ok = out.write(buf);
      buf = '';
      if (!ok) return once(out, 'drain').then(() => undefined);
    }
    return undefined;
  };
  interface P { server: string; id: string; region: string; x: number; y: number; z: number }
  const players: P[] = [];
  for (const server of SERVERS) {
    for (let i = 0; i < PLAYERS_PER_SERVER; i++) {
      const s = spots[Math.floor(random() * spots.length)]!;
      players.push({ server, id: `${server.slice(-1)}-p${i}`, region: s.region, x: s.at[0] + (random() - 0.5) * 40, y: s.at[1], z: s.at[2] + (random() - 0.5) * 40 });
    }
  }
  let t = T0;
  for (const p of players) {
    await line({ t, server: p.server, type: 'join', player: p.id, perms: p.id.endsWith('-p0') ? ['cairn.admin'] : [] });
  }
  await line({ t: t + 1, server: SERVERS[0], type: 'command', player: 'a-p0', line: `hunt start ${rules.id}` });
  const stepMs = 1000 / MOVE_HZ / players.length;
  let k = 0;
  while (lines < LINES) {
    const p = players[k % players.length]!;
    k++;
    t = T0 + 10 + Math.floor(k * stepMs);
    // a random walk that drifts back towards the treasures, so players wander in and out of them
    const s = spots[k % spots.length]!;
    if (s.region === p.region) {
      p.x += (s.at[0] - p.x) * 0.02;
      p.z += (s.at[2] - p.z) * 0.02;
    }
    p.x += (random() - 0.5) * 1.2;
    p.z += (random() - 0.5) * 1.2;
    await line({ t, server: p.server, type: 'move', player: p.id, region: p.region, at: [Math.round(p.x * 1000) / 1000, p.y, Math.round(p.z * 1000) / 1000] });
  }
  out.end(buf);
  await once(out, 'finish');
  return lines;
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-trace-'));
  const file = join(dir, 'trace.ndjson');
  const config = loadEnvConfig();
  try {
    const lines = await writeTrace(file);
    let parsed = 0;
    const p0 = performance.now();
    for await (const _ of readTrace(file)) parsed++;
    const parseMs = performance.now() - p0;

    // What `cairn replay` runs (cli/replay-command.ts), its start-up left out of the time as
    // the back end's always was: the second thread, with the embedded back end in it.
    const thread = ReplayThread.start();
    let result;
    let ms: number;
    let validateMs: number;
    try {
      await thread.ready;
      const { gatewayUrl } = await thread.startStack(config);
      const started = performance.now();
      // Validate the whole trace first (here and on the second thread), then replay what that kept.
      const trace = await validateTrace(file, { helpers: [thread] });
      validateMs = performance.now() - started;
      result = await replay({ hunts: [loadRulesFile(RULES)], traceFile: file, trace, gatewayUrl, token: config.token, graceMs: config.graceMs });
      ms = performance.now() - started;
    } finally {
      await thread.close();
    }
    const s = result.stats;
    const eventsPerSec = lines / (ms / 1000);
    const parsePerSec = parsed / (parseMs / 1000);
    console.log(`trace: ${fmt(lines)} lines, ${SERVERS.length} servers x ${PLAYERS_PER_SERVER} players at ${MOVE_HZ} Hz, ${fmt(s.traceSpanMs / 1000, 1)} s of game time`);
    console.log(`  baseline, reading + validating the trace alone: ${fmt(parsePerSec)} lines/s`);
    const ratioToParse = eventsPerSec / parsePerSec;
    // The goal is relative to the parse rate measured in the same run, so a loaded machine
    // moves both sides.
    const met = ratioToParse >= 0.5;
    console.log(`  cairn replay end to end: ${fmt(eventsPerSec)} events/s (${fmt(ms)} ms: validating ${fmt(validateMs)}, replaying ${fmt(ms - validateMs)}), ${ratioToParse.toFixed(2)}x the parse rate; goal >= 0.50x: ${met ? 'met' : 'missed'}`);
    console.log(`  sent ${fmt(s.deltasSent)} deltas + ${fmt(s.eventsSent)} discrete events in ${fmt(s.batchesSent)} batches (${fmt(s.bytesSent)} bytes); ${s.windowsClosed} windows closed; ${result.prizes.length} prizes`);
    return {
      eventsPerSec: Math.round(eventsPerSec),
      lines,
      parsePerSec: Math.round(parsePerSec),
      parseLimitPerSec: Math.round(parsePerSec),
      ratioToParse: Number(ratioToParse.toFixed(3)),
      goalsMissed: met ? 0 : 1,
      replayMs: Math.round(ms),
      validateMs: Math.round(validateMs),
      prizes: result.prizes.length,
      windowsClosed: s.windowsClosed,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
