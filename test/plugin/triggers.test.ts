/**
 * The windowed maxSpeed rule in the plugin's triggers (DESIGN.md "Hunt semantics"),
 * checked against a plain reading of the contract that keeps every sample and scans.
 */
import { describe, expect, it } from 'vitest';
import type { HuntRules, Vec3 } from '../../protocol/index.js';
import { rng } from '../../plugin/hosts/sim-host.js';
import { SpeedRun } from '../../plugin/speed-run.js';
import { TreasureIndex, Triggers, type Entry } from '../../plugin/triggers.js';

interface S {
  t: number;
  at: Vec3;
}

/**
 * The contract read literally: R is the latest earlier sample of the run with
 * t(R) <= t(S) - W, else the run's first; S is suspect when |S - R| > maxSpeed * max(t(S) - t(R), W) / 1000.
 */
function oracleSuspect(run: S[], s: S, maxSpeed: number, windowMs: number): boolean {
  if (run.length === 0) return false;
  let r = run[0]!;
  for (let i = run.length - 1; i >= 0; i--) {
    if (run[i]!.t <= s.t - windowMs) {
      r = run[i]!;
      break;
    }
  }
  const [dx, dy, dz] = [s.at[0] - r.at[0], s.at[1] - r.at[1], s.at[2] - r.at[2]];
  return Math.sqrt(dx * dx + dy * dy + dz * dz) > (maxSpeed * Math.max(s.t - r.t, windowMs)) / 1000;
}

const hunt = (id: string, over: Partial<HuntRules>, at: Vec3 = [0, 64, 0], radius = 3): HuntRules => ({
  id,
  name: id,
  treasures: [{ id: 'x', region: 'r1', at, radius, prizes: [{ ranks: '1', item: 'gold', count: 1 }] }],
  ...over,
});

/** Moves one player and returns the suspect flag of each entry, by hunt. */
function mover(hunts: HuntRules[]) {
  const triggers = new Triggers(new TreasureIndex(hunts));
  const out: Entry[] = [];
  let t0 = 0;
  return {
    triggers,
    at(dt: number, at: Vec3, region = 'r1'): Record<string, boolean> {
      t0 += dt;
      out.length = 0;
      triggers.move('p', t0, region, at, out);
      return Object.fromEntries(out.map((e) => [e.treasure.hunt, e.suspect]));
    },
  };
}

describe('windowed maxSpeed in the triggers', () => {
  it('does not flag an honest walker whose moves arrive in bursts stamped with the same millisecond', () => {
    // 5 blocks/s, sent every 50 ms, read in bursts of 6 every 300 ms; the last step enters.
    const m = mover([hunt('h', { maxSpeed: 6 }, [60, 64, 0], 1)]);
    let x = 0;
    let entries = 0;
    for (let burst = 0; burst < 40; burst++) {
      for (let k = 0; k < 6; k++) {
        x += 0.25;
        const got = m.at(k === 0 ? 300 : 0, [x, 64, 0]);
        if ('h' in got) {
          entries++;
          expect(got.h).toBe(false);
        }
      }
    }
    expect(entries).toBe(1);
    expect(m.triggers.suspects).toBe(0);
  });

  it('flags a teleport inside the first window, measured from the first sample of the run', () => {
    const m = mover([hunt('h', { maxSpeed: 10 })]);
    m.at(0, [30, 64, 0]);
    // 30 blocks in 400 ms: over 10 * max(400, 1000) / 1000 = 10 blocks.
    expect(m.at(400, [2, 64, 0])).toEqual({ h: true });
    expect(m.triggers.suspects).toBe(1);
  });

  it('measures from the first sample of the run, not the previous one, while no sample is a window old', () => {
    const m = mover([hunt('h', { maxSpeed: 10 })]);
    m.at(0, [12, 64, 0]);
    m.at(300, [40, 64, 0]); // a suspect-looking jump, but away from the treasure
    // 9 blocks from the first sample in 600 ms: within 10 * 1000 / 1000 (the previous sample is 37 away).
    expect(m.at(300, [3, 64, 0])).toEqual({ h: false });
  });

  it('lets a player who paused long cover the distance the pause allows', () => {
    const m = mover([hunt('h', { maxSpeed: 10 })]);
    m.at(0, [50, 64, 0]);
    // 47 blocks in 5 s: within 10 * 5000 / 1000 = 50 ...
    expect(m.at(5000, [3, 64, 0])).toEqual({ h: false });
    const n = mover([hunt('h', { maxSpeed: 10 })]);
    n.at(0, [60, 64, 0]);
    // ... 57 blocks is not.
    expect(n.at(5000, [3, 64, 0])).toEqual({ h: true });
  });

  it('is exact on the boundary: a distance equal to the limit is not suspect', () => {
    const m = mover([hunt('h', { maxSpeed: 20, speedWindowMs: 500 })]);
    m.at(0, [13, 64, 0]);
    expect(m.at(500, [3, 64, 0])).toEqual({ h: false }); // 10 = 20 * 500 / 1000
    const n = mover([hunt('h', { maxSpeed: 20, speedWindowMs: 500 })]);
    n.at(0, [13.0001, 64, 0]);
    expect(n.at(500, [3, 64, 0])).toEqual({ h: true });
  });

  it('starts a new run at a region change: its first sample is never suspect', () => {
    const m = mover([hunt('h', { maxSpeed: 10 })]);
    m.at(0, [500, 64, 500], 'r0');
    expect(m.at(1, [0, 64, 0])).toEqual({ h: false });
    // and the next is measured from that first sample of r1, not from r0
    m.at(100, [10, 64, 0]);
    expect(m.at(100, [1, 64, 0])).toEqual({ h: false });
    expect(m.triggers.suspects).toBe(0);
  });

  it('starts a new run at a join', () => {
    const triggers = new Triggers(new TreasureIndex([hunt('h', { maxSpeed: 10 })]));
    const out: Entry[] = [];
    triggers.move('p', 0, 'r1', [500, 64, 0], out);
    triggers.join('p');
    triggers.move('p', 10, 'r1', [0, 64, 0], out);
    expect(out.map((e) => e.suspect)).toEqual([false]);
  });

  it('keeps a suspect sample as the previous position and as a later reference', () => {
    const m = mover([hunt('h', { maxSpeed: 10 })]);
    m.at(0, [50, 64, 0]);
    expect(m.at(100, [0, 64, 2])).toEqual({ h: true }); // teleport in: suspect, no find
    expect(m.at(100, [0, 64, 1])).toEqual({}); // still inside: no new entry
    m.at(920, [0, 64, 8]); // out
    // Back in at t=1150: the reference is the suspect sample at t=100, 0 blocks away (the
    // first sample, 50 blocks away, would make it suspect again).
    expect(m.at(30, [0, 64, 2])).toEqual({ h: false });
  });

  it('measures each hunt over its own window and speed', () => {
    const m = mover([hunt('slow', { maxSpeed: 4, speedWindowMs: 2000 }), hunt('fast', { maxSpeed: 4, speedWindowMs: 500 }), hunt('any', {})]);
    m.at(0, [10, 64, 0]);
    m.at(500, [6, 64, 0]);
    // fast: reference t=500 (3 blocks in 500 ms, limit 2); slow: the first sample (7 blocks, limit 8).
    expect(m.at(500, [3, 64, 0])).toEqual({ slow: false, fast: true, any: false });
  });

  it('takes a sample stamped earlier than the one before as stamped with the same time', () => {
    const m = mover([hunt('h', { maxSpeed: 10 })]);
    m.at(0, [17, 64, 0]);
    m.at(2000, [20, 64, 0]);
    // 5000 ms back: as if at t=2000, so 15 blocks from the t=0 sample over 2 s are allowed.
    expect(m.at(-5000, [2, 64, 0])).toEqual({ h: false });
  });

  it('keeps each run across a hunt reload: references stay exact when no window grew', () => {
    const rules = [hunt('h', { maxSpeed: 10 })];
    const m = mover(rules);
    m.at(0, [12, 64, 0]);
    m.at(600, [30, 64, 0]);
    m.triggers.setIndex(new TreasureIndex([hunt('other', {}, [500, 64, 500]), ...rules]));
    // the reference is still the run's first sample (9 blocks in 900 ms: within 10), not the previous (27)
    expect(m.at(300, [3, 64, 0])).toEqual({ h: false });
    m.at(800, [30, 64, 0]);
    m.triggers.setIndex(new TreasureIndex(rules));
    // at t=2000 the reference is the sample at 900 ([3, 64, 0]), not the one at 1700 ([30, 64, 0])
    expect(m.at(300, [2, 64, 0])).toEqual({ h: false });
  });

  it('a rules reload does not count a player already standing in a treasure as entering it', () => {
    const m = mover([hunt('h', {})]);
    expect(m.at(0, [50, 64, 50])).toEqual({});
    // reloaded rules add a treasure where the player stands: the previous sample was inside it
    m.triggers.setIndex(new TreasureIndex([hunt('h', {}), hunt('g', {}, [50, 64, 50])]));
    expect(m.at(100, [50.5, 64, 50])).toEqual({});
    expect(m.at(100, [60, 64, 50])).toEqual({});
    expect(m.at(100, [50, 64, 50])).toEqual({ g: false });
    // and one standing in a treasure the reload keeps does not enter it again
    m.triggers.setIndex(new TreasureIndex([hunt('g', {}, [50, 64, 50])]));
    expect(m.at(100, [50, 64, 51])).toEqual({});
  });

  it('agrees with the contract read literally on random runs with bursts, pauses, teleports and region changes', () => {
    const windows = [1000, 250, 3000];
    const speeds = [20, 8, 40];
    const random = rng(7);
    let disagreements = 0;
    let suspects = 0;
    let checked = 0;
    for (let trial = 0; trial < 40; trial++) {
      let t = 0;
      let pos: Vec3 = [0, 64, 0];
      let run: S[] = [];
      let sr: SpeedRun | undefined;
      for (let k = 0; k < 400; k++) {
        const r = random();
        t += r < 0.4 ? 0 : r < 0.9 ? Math.floor(random() * 120) : r < 0.98 ? 1000 : 5000;
        const jump = random() < 0.03 ? 60 : 1.2;
        pos = [pos[0] + (random() - 0.5) * jump, pos[1], pos[2] + (random() - 0.5) * jump];
        const s = { t, at: pos };
        if (!sr || random() < 0.01) {
          // a new run: a join, or a region change
          if (sr) sr.begin(t, ...pos);
          else sr = new SpeedRun(t, ...pos, windows.length);
          run = [s];
          continue;
        }
        sr.advance(t, windows);
        for (let i = 0; i < windows.length; i++) {
          const want = oracleSuspect(run, s, speeds[i]!, windows[i]!);
          if (sr.suspect(i, windows[i]!, speeds[i]!, t, ...pos) !== want) disagreements++;
          if (want) suspects++;
          checked++;
        }
        sr.push(t, ...pos);
        run.push(s);
      }
    }
    expect(disagreements).toBe(0);
    // the runs exercise both outcomes
    expect(suspects).toBeGreaterThan(100);
    expect(checked - suspects).toBeGreaterThan(1000);
  });

  it('keeps at most one slot per distinct millisecond of a window, however dense the samples', () => {
    const sr = new SpeedRun(0, 0, 0, 0, 1);
    const random = rng(3);
    let t = 0;
    let most = 0;
    for (let k = 0; k < 200_000; k++) {
      t += random() < 0.7 ? 0 : 1;
      sr.advance(t, [1000]);
      sr.suspect(0, 1000, 10, t, 0, 0, 0);
      sr.push(t, 0, 0, 0);
      most = Math.max(most, sr.kept);
    }
    expect(most).toBeLessThanOrEqual(1001);
    expect(most).toBeGreaterThan(900);
  });
});
