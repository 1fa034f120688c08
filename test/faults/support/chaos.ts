/**
 * Turns faults on and off on several fault proxies at once, in turn, until stopped, and
 * counts each fault it actually applied per link: latency, bandwidth cap, black hole,
 * reset mid-frame (counted only when a chunk was really cut), half-open (counted only
 * when a connection was open to cut).
 */
import type { Direction, FaultProxy } from '../../support/fault-proxy.js';

export const FAULTS = ['latency', 'bandwidth', 'black-hole', 'reset-mid-frame', 'half-open'] as const;
export type FaultKind = (typeof FAULTS)[number];

export interface ChaosLink {
  name: string;
  proxy: FaultProxy;
  /** directions a reset mid-frame cuts, in turn */
  resetDirs: Direction[];
}

export type ChaosRuns = Record<string, Record<FaultKind, number>>;

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function startChaos(links: ChaosLink[], opts: { holdMs: number; gapMs: number }): { stop(): Promise<ChaosRuns> } {
  let stopped = false;
  const runs: ChaosRuns = Object.fromEntries(links.map((l) => [l.name, Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<FaultKind, number>]));
  const one = async (link: ChaosLink, kind: FaultKind, turn: number): Promise<void> => {
    const p = link.proxy;
    const count = () => runs[link.name]![kind]++;
    if (kind === 'latency') {
      p.latency(40 + (turn % 4) * 30);
      count();
      await wait(opts.holdMs);
    } else if (kind === 'bandwidth') {
      p.bandwidth(48 * 1024);
      count();
      await wait(opts.holdMs);
    } else if (kind === 'black-hole') {
      p.blackHole();
      count();
      await wait(opts.holdMs);
    } else if (kind === 'reset-mid-frame') {
      const dir = link.resetDirs[turn % link.resetDirs.length]!;
      // A link may be quiet for a moment (puts come in bursts): wait longer for a chunk to cut.
      const fired = await Promise.race([p.resetMidFrame(dir), wait(opts.holdMs * 5).then(() => false)]);
      if (fired) count();
    } else if (p.halfOpen() > 0) {
      count();
      await wait(opts.holdMs);
    }
    p.heal();
  };
  const loops = links.map(async (link, i) => {
    // Each link starts at another fault, so different faults overlap.
    for (let turn = 0; !stopped; turn++) {
      await one(link, FAULTS[(turn + i * 2) % FAULTS.length]!, turn);
      await wait(opts.gapMs);
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      for (const l of links) l.proxy.heal();
      return runs;
    },
  };
}
