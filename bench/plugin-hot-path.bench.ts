/**
 * The plugin's hot path, on one core, through the real entry points of CairnPlugin:
 *
 * - samples: raw move samples per second through `accept()` (validation, coalescer,
 *   treasure triggers), against the baseline of what the naive design paid per sample:
 *   encoding each sample as its own wire event (msgpack), before any network cost.
 * - flush pause at 10 k players: 20% of the players move each 50 ms tick (20 Hz) and the
 *   plugin flushes every 250 ms (its default), so a flush emits ~6.7 k deltas. Each
 *   figure is how long one flush held the event loop: the split flush of the timer (one
 *   slice per turn) against the baseline of the whole flush in one turn (`flush()`, what
 *   the timer ran before issue 3). Goal (issue 3): split p99 <= 1 ms.
 *
 * The gateway is the fake peer of the plugin tests (a real ws server that acks every batch),
 * so sending costs what it costs on a socket.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode, type Vec3 } from '../protocol/index.js';
import { CairnPlugin } from '../plugin/cairn-plugin.js';
import type { Sample } from '../plugin/host.js';
import { rng } from '../plugin/hosts/sim-host.js';
import { FakeGateway } from '../test/plugin/support/fake-gateway.js';
import { FakeHost } from '../test/plugin/support/fake-host.js';
import { testHunts } from '../test/plugin/support/hunts.js';
import { fmt, percentile, type BenchResult } from './run.js';

const PLAYERS = 10_000;
const TICK_MS = 50;
const FLUSH_MS = 250;
const CHANGING = 0.2;
/** flushes measured per mode */
const FLUSHES = 240;

const turn = () => new Promise<void>((r) => setImmediate(r));

interface World {
  plugin: CairnPlugin;
  host: FakeHost;
  pauses: number[];
  close(): Promise<void>;
}

async function world(): Promise<World> {
  const gw = await FakeGateway.start();
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-'));
  const host = new FakeHost();
  const pauses: number[] = [];
  const plugin = await CairnPlugin.start({
    host,
    hunts: testHunts(),
    dataDir: dir,
    gatewayUrl: gw.url,
    token: 'bench',
    autoFlush: false,
    onFlushPause: (ms) => pauses.push(ms),
  });
  for (let i = 0; i < PLAYERS; i++) plugin.accept({ type: 'join', t: host.clock, player: `player-${i}` });
  plugin.flush();
  await plugin.drain();
  return {
    plugin,
    host,
    pauses,
    async close() {
      await plugin.stop(2000);
      await gw.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Move samples of random players wandering over a 1 km square (a few cross treasures). */
function makeSamples(n: number, t0: number, random: () => number): Sample[] {
  const pos: Vec3[] = Array.from({ length: PLAYERS }, () => [random() * 1000 - 500, 64, random() * 1000 - 500]);
  const out: Sample[] = [];
  for (let k = 0; k < n; k++) {
    const i = Math.floor(random() * PLAYERS);
    const p = pos[i]!;
    p[0] += random() - 0.5;
    p[2] += random() - 0.5;
    out.push({ type: 'move', t: t0 + k, player: `player-${i}`, region: 'r1', at: [p[0], p[1], p[2]] });
  }
  return out;
}

function samplesPerSec(plugin: CairnPlugin, samples: Sample[], ms: number): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < samples.length; k++) plugin.accept(samples[k]!);
    n += samples.length;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function naivePerSec(samples: Sample[], ms: number): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 10_000; k++) encode(samples[k]!);
    n += 10_000;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

/** Runs FLUSHES flush intervals; `split` flushes as the timer does, otherwise all at once. */
async function flushPauses(w: World, split: boolean, random: () => number): Promise<number[]> {
  const { plugin, host, pauses } = w;
  const pos: Vec3[] = Array.from({ length: PLAYERS }, () => [random() * 1000 - 500, 64, random() * 1000 - 500]);
  const perTick = Math.round(PLAYERS * CHANGING);
  pauses.length = 0;
  for (let f = 0; f < FLUSHES; f++) {
    for (let tick = 0; tick < FLUSH_MS / TICK_MS; tick++) {
      host.clock += TICK_MS;
      for (let k = 0; k < perTick; k++) {
        const i = Math.floor(random() * PLAYERS);
        const p = pos[i]!;
        p[0] += random() - 0.5;
        p[2] += random() - 0.5;
        plugin.accept({ type: 'move', t: host.clock, player: `player-${i}`, region: 'r1', at: [p[0], p[1], p[2]] });
      }
      await turn();
    }
    if (split) {
      plugin.flushSliced();
      // The game's turns go on while the slices run.
      while (plugin.flushing) await turn();
    } else {
      plugin.flush();
    }
    await turn();
  }
  await plugin.drain();
  return [...pauses].sort((a, b) => a - b);
}

export async function run(): Promise<BenchResult> {
  const random = rng(42);
  const w = await world();
  try {
    const samples = makeSamples(200_000, w.host.clock + 1, random);
    samplesPerSec(w.plugin, samples, 300); // warm-up
    const perSec = samplesPerSec(w.plugin, samples, 2000);
    const naive = naivePerSec(samples, 1000);
    console.log(`samples through accept() (validation + coalescer + triggers): ${fmt(perSec)}/s (${fmt(1e9 / perSec, 0)} ns each) vs naive encode of every sample ${fmt(naive)}/s (${fmt(perSec / naive, 2)}x)`);
    w.host.clock += 1_000_000;
    w.plugin.flush();
    await w.plugin.drain();

    await flushPauses(w, false, random); // warm-up of both paths
    const whole = await flushPauses(w, false, random);
    const split = await flushPauses(w, true, random);
    const stats = w.plugin.stats();
    const line = (name: string, p: number[]) =>
      `${name}: p50 ${fmt(percentile(p, 50), 3)} ms, p99 ${fmt(percentile(p, 99), 3)} ms, max ${fmt(p.at(-1) ?? NaN, 3)} ms over ${p.length} pauses`;
    console.log(`flush pause, ${fmt(PLAYERS)} players, ${CHANGING * 100}% moving per ${TICK_MS} ms tick, flush every ${FLUSH_MS} ms (${fmt(stats.deltasSent / (3 * FLUSHES), 0)} deltas per flush on average):`);
    console.log(`  baseline, whole flush in one turn ${line('', whole)}`);
    console.log(`  split flush (slices on successive turns) ${line('', split)}`);
    const p99 = percentile(split, 99);
    console.log(`  goal p99 <= 1 ms: ${p99 <= 1 ? 'met' : `missed by ${fmt(p99 - 1, 3)} ms`}`);
    return {
      samplesPerSec: Math.round(perSec),
      naiveEncodePerSec: Math.round(naive),
      flushP50Ms: +percentile(split, 50).toFixed(4),
      flushP99Ms: +p99.toFixed(4),
      flushMaxMs: +(split.at(-1) ?? NaN).toFixed(4),
      wholeFlushP50Ms: +percentile(whole, 50).toFixed(4),
      wholeFlushP99Ms: +percentile(whole, 99).toFixed(4),
    };
  } finally {
    await w.close();
  }
}
