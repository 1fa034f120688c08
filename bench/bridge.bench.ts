/**
 * The Java bridge's cost (hosts/java-bridge), run by `npm run bench:jvm`: a JVM plays move
 * samples through CairnBridge into a `cairn sidecar` (its bridge server in this process,
 * with the real plugin, journal and a fake gateway peer that acks every batch) on loopback.
 *
 * - game thread: ns per move() call, the cost a game's tick pays (goal <= 1 us)
 * - throughput: samples/s from the first call until the sidecar acked the last one, i.e.
 *   journaled and fed to the plugin (goal >= 200,000/s)
 * - baseline: the same kind of samples through an in-process plugin's accept(), what a
 *   Node game server pays with no bridge at all.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnPlugin } from '../plugin/cairn-plugin.js';
import type { Sample } from '../plugin/host.js';
import { Sidecar } from '../plugin/hosts/bridge-server.js';
import { FakeGateway } from '../test/plugin/support/fake-gateway.js';
import { FakeHost } from '../test/plugin/support/fake-host.js';
import { testHunts } from '../test/plugin/support/hunts.js';
import { fmt, type BenchResult } from './run.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD = join(ROOT, 'hosts/java-bridge/build');
const SAMPLES = 2_000_000;
const PLAYERS = 1000;

function goal(name: string, value: number, target: number, higherIsBetter: boolean, unit: string): string {
  const met = higherIsBetter ? value >= target : value <= target;
  const ratio = higherIsBetter ? value / target : target / value;
  return `  goal ${name} ${higherIsBetter ? '>=' : '<='} ${fmt(target)} ${unit}: ${met ? 'met' : 'missed'} (${fmt(ratio, 2)}x the goal)`;
}

async function inProcessPerSec(): Promise<number> {
  const gw = await FakeGateway.start();
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-'));
  const host = new FakeHost();
  const plugin = await CairnPlugin.start({ host, hunts: testHunts(), dataDir: dir, gatewayUrl: gw.url, token: 'bench', autoFlush: false });
  try {
    const x = new Float64Array(PLAYERS);
    for (let i = 0; i < PLAYERS; i++) plugin.accept({ type: 'join', t: host.clock, player: `player-${i}` });
    const samples: Sample[] = [];
    for (let k = 0; k < 200_000; k++) {
      const i = k % PLAYERS;
      x[i] = x[i]! + 0.25;
      samples.push({ type: 'move', t: host.clock + k, player: `player-${i}`, region: 'r1', at: [x[i]!, 64, i] });
    }
    for (const s of samples) plugin.accept(s); // warm-up
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < 1500) {
      for (const s of samples) plugin.accept(s);
      n += samples.length;
      plugin.flush();
    }
    return (n * 1000) / (performance.now() - start);
  } finally {
    await plugin.stop(2000);
    await gw.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult> {
  if (!existsSync(join(BUILD, 'cairn-harness.jar'))) execFileSync('bash', [join(ROOT, 'hosts/java-bridge/build.sh')], { stdio: 'inherit' });
  const gw = await FakeGateway.start();
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-bridge-'));
  const sidecar = await Sidecar.start({
    dataDir: dir,
    clock: 'wall',
    listen: { host: '127.0.0.1', port: 0 },
    startPlugin: (host, dataDir) => CairnPlugin.start({ host, hunts: testHunts(), dataDir, gatewayUrl: gw.url, token: 'bench' }),
  });
  let jvm: Record<string, number>;
  try {
    const java = spawn('java', ['-cp', `${join(BUILD, 'cairn-bridge.jar')}:${join(BUILD, 'cairn-harness.jar')}`, 'dev.cairn.harness.Bench', `127.0.0.1:${sidecar.port}`, String(SAMPLES), String(PLAYERS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    java.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(java, 'exit')) as [number];
    if (code !== 0) throw new Error(`the Java bench exited with ${code}: ${out}`);
    jvm = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;
  } finally {
    await sidecar.close(2000);
    await gw.close();
    await rm(dir, { recursive: true, force: true });
  }
  const node = await inProcessPerSec();
  const callNs = jvm.callNs!;
  const perSec = jvm.perSec!;
  console.log(`${fmt(SAMPLES)} move samples of ${fmt(PLAYERS)} players, JVM -> CairnBridge -> loopback TCP -> cairn sidecar (journal + plugin):`);
  console.log(`  game thread: ${fmt(callNs, 1)} ns per move() call (p99 of a tick's calls: ${fmt(jvm.callNsP99Tick!, 1)} ns each); dropped ${jvm.droppedMoves} moves, ${jvm.droppedEvents} events`);
  console.log(`  through the bridge into the sidecar: ${fmt(perSec)} samples/s`);
  console.log(`  baseline, the Node plugin in-process (accept() + flush, no bridge): ${fmt(node)} samples/s (${fmt(1e9 / node, 0)} ns each); the bridge path is ${fmt(perSec / node, 2)}x of it`);
  console.log(goal('game thread per move()', callNs, 1000, false, 'ns'));
  console.log(goal('bridge throughput', perSec, 200_000, true, 'samples/s'));
  return { callNs, callNsP99Tick: jvm.callNsP99Tick!, bridgePerSec: perSec, nodeInProcessPerSec: Math.round(node), droppedMoves: jvm.droppedMoves!, droppedEvents: jvm.droppedEvents! };
}
