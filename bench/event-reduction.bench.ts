/**
 * Event reduction on the sim workload (plugin/hosts/sim-host.ts, the bots of `cairn demo`):
 * 2 x 100 bots walking between the treasures of hunts/spring.json at 20 Hz (one in eleven
 * a speed cheater), 10 minutes of game time, the plugin flushing every 250 ms into a real
 * socket. Raw samples in against what goes on the wire:
 *
 * - events: deltas + discrete events in batches (what the gateway writes to Kinesis), and
 *   frames (WebSocket messages), against the baseline of sending every sample;
 * - finds: the first entry of each player into each treasure, found by a brute-force check
 *   of every raw sample against every treasure (no grid, no coalescing), against the enter
 *   events that reached the gateway; and against the other baseline, last-state-per-flush
 *   (each player's latest position checked once per flush), which misses short visits.
 *
 * Keys: `reduction` = 1 - wire events / raw samples (goal >= 0.95), `findsLost` (goal 0).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnterEvent, HuntRules } from '../protocol/index.js';
import { loadRulesFile } from '../plugin/rules-file.js';
import { CairnPlugin } from '../plugin/cairn-plugin.js';
import type { Sample } from '../plugin/host.js';
import { SimHost } from '../plugin/hosts/sim-host.js';
import { FakeGateway } from '../test/plugin/support/fake-gateway.js';
import { fmt, type BenchResult } from './run.js';

const RULES = new URL('../hunts/spring.json', import.meta.url).pathname;
const BOTS_PER_SERVER = 100;
const TICK_MS = 50;
const FLUSH_MS = 250;
const GAME_MS = 10 * 60_000;
const T0 = Date.UTC(2026, 11, 1, 18, 0, 0);

type Key = string; // `${player}/${hunt}:${treasure}`; bot names carry their server's prefix

/** First entry of each player into each treasure, checking every sample against every treasure. */
class BruteFinds {
  readonly first = new Map<Key, number>();
  private readonly inside = new Map<string, Set<string>>();
  constructor(private readonly hunts: HuntRules[]) {}
  sample(s: Sample): void {
    const who = s.player;
    if (s.type === 'join' || s.type === 'leave') {
      this.inside.delete(who);
      return;
    }
    if (s.type !== 'move') return;
    const was = this.inside.get(who);
    const now = new Set<string>();
    for (const h of this.hunts) {
      for (const tr of h.treasures) {
        if (tr.region !== s.region) continue;
        const dx = s.at[0] - tr.at[0];
        const dy = s.at[1] - tr.at[1];
        const dz = s.at[2] - tr.at[2];
        if (dx * dx + dy * dy + dz * dz > tr.radius * tr.radius) continue;
        const id = `${h.id}:${tr.id}`;
        now.add(id);
        const key = `${who}/${id}`;
        if (!was?.has(id) && !this.first.has(key)) this.first.set(key, s.t);
      }
    }
    this.inside.set(who, now);
  }
}

interface Outcome {
  samples: number;
  wireEvents: number;
  frames: number;
  bytes: number;
  finds: number;
  findsLost: number;
  lastStateLost: number;
  ms: number;
}

async function simulate(rules: HuntRules, flushMs: number): Promise<Outcome> {
  // One peer per server: the fake peer tells batches apart by seq only.
  const gws = [await FakeGateway.start(), await FakeGateway.start()];
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bench-'));
  let clock = T0;
  const servers = ['srv-a', 'srv-b'];
  const hosts = servers.map((s, i) => new SimHost(s, [rules], { bots: BOTS_PER_SERVER, seed: 7 + i, namePrefix: s.slice(-1), cheaterEvery: 11 }, () => clock));
  const plugins: CairnPlugin[] = [];
  const brute = new BruteFinds([rules]);
  const lastState = new BruteFinds([rules]);
  const latest = servers.map(() => new Map<string, Sample>());
  let samples = 0;
  try {
    for (const [i, host] of hosts.entries()) {
      plugins.push(await CairnPlugin.start({ host, hunts: [rules], dataDir: join(dir, host.serverId), gatewayUrl: gws[i]!.url, token: 'bench', autoFlush: false }));
    }
    const feed = (i: number, batch: Sample[]) => {
      for (const s of batch) {
        samples++;
        plugins[i]!.accept(s);
        brute.sample(s);
        if (s.type === 'move') latest[i]!.set(s.player, s);
        else lastState.sample(s);
      }
    };
    hosts.forEach((h, i) => feed(i, h.joinAll()));
    feed(0, [hosts[0]!.command(hosts[0]!.admin, `hunt start ${rules.id}`)]);
    const started = performance.now();
    for (let t = TICK_MS; t <= GAME_MS; t += TICK_MS) {
      clock = T0 + t;
      hosts.forEach((h, i) => feed(i, h.step(TICK_MS)));
      if (t % flushMs === 0) {
        for (const p of plugins) p.flush();
        // the baseline: each player's latest state, once per flush
        for (const m of latest) {
          for (const s of m.values()) lastState.sample(s);
          m.clear();
        }
        if (t % 10_000 === 0) await Promise.all(plugins.map((p) => p.drain()));
      }
    }
    clock += 1;
    for (const p of plugins) p.flush({ force: true });
    await Promise.all(plugins.map((p) => p.drain()));
    const ms = performance.now() - started;

    const wire = new Map<Key, number>();
    let wireEvents = 0;
    let frames = 0;
    let bytes = 0;
    for (const b of gws.flatMap((gw) => gw.unique())) {
      frames++;
      wireEvents += b.ev.length;
      for (const e of b.ev) {
        if (e.k !== 'enter') continue;
        const key = `${e.p}/${e.hunt}:${(e as EnterEvent).tr}`;
        const prev = wire.get(key);
        if (prev === undefined || e.t < prev) wire.set(key, e.t);
      }
    }
    for (const b of gws.flatMap((gw) => gw.batches)) bytes += b.bytes.length;
    const lostBy = (found: Map<Key, number>) => [...brute.first].filter(([k, t]) => found.get(k) !== t).length;
    const findsLost = lostBy(wire);
    const lastStateLost = lostBy(lastState.first);
    return { samples, wireEvents, frames, bytes, finds: brute.first.size, findsLost, lastStateLost, ms };
  } finally {
    for (const p of plugins) await p.stop(2000);
    for (const gw of gws) await gw.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult> {
  const rules = loadRulesFile(RULES);
  const o = await simulate(rules, FLUSH_MS);
  const slow = await simulate(rules, 1000);
  const reduction = 1 - o.wireEvents / o.samples;
  const frameReduction = 1 - o.frames / o.samples;
  console.log(`sim workload: 2 x ${BOTS_PER_SERVER} bots, ${GAME_MS / 60_000} min of game time at ${1000 / TICK_MS} Hz, flush every ${FLUSH_MS} ms (the default; ran in ${fmt(o.ms)} ms)`);
  console.log(`  raw samples in:                 ${fmt(o.samples)} (baseline: sending every sample = ${fmt(o.samples)} events)`);
  console.log(`  on the wire:                    ${fmt(o.wireEvents)} events (deltas + discrete) in ${fmt(o.frames)} frames, ${fmt(o.bytes)} bytes`);
  console.log(`  reduction:                      events ${fmt(reduction * 100, 2)}% (goal >= 95%: ${reduction >= 0.95 ? 'met' : 'missed'}), frames ${fmt(frameReduction * 100, 3)}%`);
  console.log(`    (a walking bot samples ${FLUSH_MS / TICK_MS} times per flush and has moved each time: one delta per flush bounds events at ${fmt((1 - TICK_MS / FLUSH_MS) * 100, 0)}%)`);
  console.log(`  with a 1000 ms flush:           events ${fmt((1 - slow.wireEvents / slow.samples) * 100, 2)}%, finds lost ${slow.findsLost}`);
  console.log(`  finds in the raw samples:       ${fmt(o.finds)}`);
  console.log(`  finds lost, Cairn:              ${o.findsLost}`);
  console.log(`  finds lost, last-state-per-flush (baseline): ${o.lastStateLost}`);
  return {
    reduction: +reduction.toFixed(4),
    findsLost: o.findsLost,
    samples: o.samples,
    wireEvents: o.wireEvents,
    frames: o.frames,
    frameReduction: +frameReduction.toFixed(5),
    reductionAt1sFlush: +(1 - slow.wireEvents / slow.samples).toFixed(4),
    finds: o.finds,
    lastStatePerFlushFindsLost: o.lastStateLost,
  };
}
