/**
 * A crowd trace for the chaos test: `players` bots over three servers walking towards
 * the treasures of one hunt, a move every 500 ms of trace time, some leaving and coming
 * back midway (more discrete events), an admin starting and stopping the hunt. Seeded,
 * so every run replays the same trace.
 */
import type { HuntRules, Vec3 } from '../../../protocol/index.js';
import { rng } from '../../../plugin/hosts/sim-host.js';
import { TraceBuilder } from '../../support/trace-builder.js';

export const CROWD_HUNT: HuntRules = {
  id: 'crowd',
  name: 'Crowd',
  window: '10s',
  treasures: [
    { id: 'oak', region: 'r1', at: [12, 64, 0], radius: 3, prizes: [{ ranks: '1', item: 'gold', count: 5 }, { ranks: '2-1000', item: 'bread', count: 1 }] },
    { id: 'well', region: 'r1', at: [-12, 64, 6], radius: 3, prizes: [{ ranks: '1-3', item: 'silver', count: 2 }, { ranks: '4-1000', item: 'apple', count: 1 }] },
    { id: 'tower', region: 'r1', at: [0, 64, -14], radius: 3, prizes: [{ ranks: '1-1000', item: 'coin', count: 1 }] },
  ],
  completion: { prizes: [{ ranks: '1-1000', item: 'crown', count: 1 }] },
};

export const SERVERS = ['srv-a', 'srv-b', 'srv-c'];

export function crowdTrace(players: number, seconds: number, seed = 7): TraceBuilder {
  const r = rng(seed);
  const b = new TraceBuilder();
  b.join(0, 'srv-a', 'admin', ['cairn.admin']);
  b.command(1_000, 'srv-a', 'admin', 'hunt start crowd');
  const end = seconds * 1000;
  for (let i = 0; i < players; i++) {
    const server = SERVERS[i % SERVERS.length]!;
    const id = `p-${String(i).padStart(3, '0')}`;
    const at: Vec3 = [(r() - 0.5) * 60, 64, (r() - 0.5) * 60];
    const speed = 1 + r() * 3; // blocks per step
    let goal = Math.floor(r() * CROWD_HUNT.treasures.length);
    const joinAt = Math.floor(r() * 2000);
    // A quarter of the players leave for a few seconds midway.
    const away = r() < 0.25 ? [20_000 + Math.floor(r() * 10_000), 0] : undefined;
    if (away) away[1] = away[0]! + 2_000 + Math.floor(r() * 5_000);
    b.join(joinAt, server, id);
    for (let t = joinAt + 500; t < end - 1000; t += 500) {
      if (away && t >= away[0]! && t < away[1]!) {
        if (t - away[0]! < 500) b.leave(t, server, id);
        continue;
      }
      if (away && t >= away[1]! && t - away[1]! < 500) b.join(t, server, id);
      const target = CROWD_HUNT.treasures[goal]!.at;
      const dx = target[0] - at[0];
      const dz = target[2] - at[2];
      const d = Math.hypot(dx, dz);
      if (d < 1.5) goal = (goal + 1 + Math.floor(r() * 2)) % CROWD_HUNT.treasures.length;
      else {
        at[0] += (dx / d) * speed + (r() - 0.5);
        at[2] += (dz / d) * speed + (r() - 0.5);
      }
      b.move(t, server, id, 'r1', [Math.round(at[0] * 100) / 100, 64, Math.round(at[2] * 100) / 100]);
    }
    b.leave(end - 500, server, id);
  }
  b.command(end - 200, 'srv-a', 'admin', 'hunt stop crowd');
  return b;
}
