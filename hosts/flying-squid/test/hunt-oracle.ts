/**
 * The prizes DESIGN.md "Hunt semantics" gives for the samples one server fed the plugin,
 * written from the text alone (none of the plugin's or worker's code), so the end-to-end
 * test compares the pipeline with the contract, not with itself. Covers what the example
 * hunt uses: start/stop by command, finds, ranks, completion, maxSpeed (windowed). No
 * schedule or ordered.
 */
import type { HuntRules } from '../../../protocol/index.js';
import type { Sample } from '../../../plugin/host.js';

export interface ExpectedPrize {
  hunt: string;
  reason: string;
  player: string;
  server: string;
  item: string;
  count: number;
}

export interface Find {
  treasure: string;
  player: string;
  t: number;
}

export interface OracleResult {
  start: number | undefined;
  stop: number | undefined;
  finds: Find[];
  prizes: ExpectedPrize[];
  /** entries that broke maxSpeed */
  suspects: Find[];
}

function ranksContain(ranks: string, r: number): boolean {
  const m = /^(\d+)(?:-(\d+))?$/.exec(ranks);
  if (!m) throw new Error(`bad ranks ${ranks}`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return r >= lo && r <= hi;
}

function prizeFor(prizes: readonly { ranks: string; item: string; count: number }[], rank: number) {
  return prizes.find((p) => ranksContain(p.ranks, rank));
}

/**
 * `samples` in the order the server produced them (times non-decreasing); `isAdmin` says
 * who held cairn.admin when they sent a command.
 */
export function expectedPrizes(hunt: HuntRules, server: string, samples: readonly Sample[], isAdmin: (player: string) => boolean): OracleResult {
  let start: number | undefined;
  let stop: number | undefined;
  // per player, per treasure: whether the previous sample of this session was inside
  const inside = new Map<string, Map<string, boolean>>();
  const finds = new Map<string, Map<string, number>>(hunt.treasures.map((tr) => [tr.id, new Map()]));
  const runs = (t: number) => start !== undefined && t >= start && (stop === undefined || t < stop);
  // per player: the samples of the current session and region run
  const run = new Map<string, { t: number; at: readonly number[]; region: string }[]>();
  const windowMs = hunt.speedWindowMs ?? 1000;
  /** "S is suspect when its straight-line distance from R exceeds maxSpeed * max(t(S) - t(R), speedWindowMs) / 1000" */
  const isSuspect = (player: string, t: number, at: readonly number[]): boolean => {
    const samples = run.get(player) ?? [];
    if (hunt.maxSpeed === undefined || samples.length === 0) return false;
    // "the latest earlier sample of the same session and region run with t(R) <= t(S) - speedWindowMs, or, when there is none, the first sample of that run"
    const r = [...samples].reverse().find((x) => x.t <= t - windowMs) ?? samples[0]!;
    const d = Math.hypot(at[0]! - r.at[0]!, at[1]! - r.at[1]!, at[2]! - r.at[2]!);
    return d > (hunt.maxSpeed * Math.max(t - r.t, windowMs)) / 1000;
  };
  const suspects: Find[] = [];
  for (const s of samples) {
    switch (s.type) {
      case 'join':
      case 'leave':
        inside.set(s.player, new Map());
        run.delete(s.player);
        break;
      case 'command': {
        const words = s.line.trim().replace(/^\//, '').split(/\s+/);
        if (words[0] !== 'hunt' || words[2] !== hunt.id || words.length !== 3 || !isAdmin(s.player)) break;
        if (words[1] === 'start' && start === undefined) start = s.t;
        if (words[1] === 'stop' && start !== undefined && stop === undefined) stop = s.t;
        break;
      }
      case 'move': {
        let prev = inside.get(s.player);
        if (!prev) inside.set(s.player, (prev = new Map()));
        // "A region change starts a new run."
        if (run.get(s.player)?.at(-1)?.region !== s.region) run.set(s.player, []);
        const suspect = isSuspect(s.player, s.t, s.at);
        for (const tr of hunt.treasures) {
          const d = Math.hypot(s.at[0] - tr.at[0], s.at[1] - tr.at[1], s.at[2] - tr.at[2]);
          const isIn = s.region === tr.region && d <= tr.radius;
          const wasIn = prev.get(tr.id) ?? false;
          const found = finds.get(tr.id)!;
          if (isIn && !wasIn && suspect) suspects.push({ treasure: tr.id, player: s.player, t: s.t });
          else if (isIn && !wasIn && runs(s.t) && !found.has(s.player)) found.set(s.player, s.t);
          // a suspect sample still counts as the last position and a later reference
          prev.set(tr.id, isIn);
        }
        run.get(s.player)!.push({ t: s.t, at: s.at, region: s.region });
        break;
      }
      case 'inventory':
        break;
    }
  }
  // One server: ties on time go by player id (string order).
  const order = (a: [string, number], b: [string, number]) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  const prizes: ExpectedPrize[] = [];
  const all: Find[] = [];
  for (const tr of hunt.treasures) {
    const ranked = [...finds.get(tr.id)!].sort(order);
    ranked.forEach(([player, t], i) => {
      all.push({ treasure: tr.id, player, t });
      const p = prizeFor(tr.prizes, i + 1);
      if (p) prizes.push({ hunt: hunt.id, reason: `treasure:${tr.id}:${i + 1}`, player, server, item: p.item, count: p.count });
    });
  }
  if (hunt.completion) {
    const players = new Set(all.map((f) => f.player));
    const complete: [string, number][] = [];
    for (const player of players) {
      const times = hunt.treasures.map((tr) => finds.get(tr.id)!.get(player));
      if (times.every((t) => t !== undefined)) complete.push([player, Math.max(...(times as number[]))]);
    }
    complete.sort(order).forEach(([player], i) => {
      const p = prizeFor(hunt.completion!.prizes, i + 1);
      if (p) prizes.push({ hunt: hunt.id, reason: `completion:${i + 1}`, player, server, item: p.item, count: p.count });
    });
  }
  prizes.sort((a, b) => (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
  return { start, stop, finds: all, prizes, suspects };
}
