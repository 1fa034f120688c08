/**
 * What a rules change does to a hunt's prizes: the prizes of one replay under the old rules
 * and one under the new, compared by prize identity (hunt, reason). A prize is
 *   gained    only under the new rules      lost     only under the old
 *   moved     both, to another player       changed  both, same player, other item or count
 * and each player's balance lists what they gain and lose.
 */
import { prizeIdentity, type PrizeAward } from '../protocol/index.js';

type P = Pick<PrizeAward, 'hunt' | 'reason' | 'player' | 'item' | 'count'>;

export interface PrizeDiff {
  gained: P[];
  lost: P[];
  moved: Array<{ hunt: string; reason: string; from: P; to: P }>;
  changed: Array<{ hunt: string; reason: string; from: P; to: P }>;
  /** player -> prizes they win only under the new rules (+) and only under the old (-) */
  players: Record<string, { gained: P[]; lost: P[] }>;
  totals: { old: number; new: number; unchanged: number; gained: number; lost: number; moved: number; changed: number; players: number };
}

const strip = (p: P): P => ({ hunt: p.hunt, reason: p.reason, player: p.player, item: p.item, count: p.count });

export function diffPrizes(oldPrizes: readonly P[], newPrizes: readonly P[]): PrizeDiff {
  const before = new Map(oldPrizes.map((p) => [prizeIdentity(p), strip(p)]));
  const after = new Map(newPrizes.map((p) => [prizeIdentity(p), strip(p)]));
  const d: PrizeDiff = { gained: [], lost: [], moved: [], changed: [], players: {}, totals: { old: before.size, new: after.size, unchanged: 0, gained: 0, lost: 0, moved: 0, changed: 0, players: 0 } };
  const player = (id: string) => (d.players[id] ??= { gained: [], lost: [] });
  for (const [id, a] of after) {
    const b = before.get(id);
    if (!b) {
      d.gained.push(a);
      player(a.player).gained.push(a);
    } else if (b.player !== a.player) {
      d.moved.push({ hunt: a.hunt, reason: a.reason, from: b, to: a });
      player(b.player).lost.push(b);
      player(a.player).gained.push(a);
    } else if (b.item !== a.item || b.count !== a.count) {
      d.changed.push({ hunt: a.hunt, reason: a.reason, from: b, to: a });
      player(b.player).lost.push(b);
      player(a.player).gained.push(a);
    } else d.totals.unchanged++;
  }
  for (const [id, b] of before) {
    if (after.has(id)) continue;
    d.lost.push(b);
    player(b.player).lost.push(b);
  }
  const order = (x: P, y: P) => x.hunt.localeCompare(y.hunt) || x.reason.localeCompare(y.reason, 'en', { numeric: true });
  d.gained.sort(order);
  d.lost.sort(order);
  d.moved.sort((x, y) => order(x.to, y.to));
  d.changed.sort((x, y) => order(x.to, y.to));
  d.players = Object.fromEntries(Object.entries(d.players).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  Object.assign(d.totals, { gained: d.gained.length, lost: d.lost.length, moved: d.moved.length, changed: d.changed.length, players: Object.keys(d.players).length });
  return d;
}

const what = (p: P) => `${p.count} x ${p.item}`;

/** The diff as text, for a modder. */
export function renderDiff(d: PrizeDiff): string {
  const t = d.totals;
  const out = [`${t.old} prizes under the old rules, ${t.new} under the new: ${t.unchanged} unchanged, ${t.gained} gained, ${t.lost} lost, ${t.moved} moved, ${t.changed} changed; ${t.players} players affected`];
  if (d.gained.length) out.push('', 'gained (new rules only):', ...d.gained.map((p) => `  + ${p.hunt} ${p.reason}  ${p.player}  ${what(p)}`));
  if (d.lost.length) out.push('', 'lost (old rules only):', ...d.lost.map((p) => `  - ${p.hunt} ${p.reason}  ${p.player}  ${what(p)}`));
  if (d.moved.length) out.push('', 'moved to another player:', ...d.moved.map((m) => `  > ${m.hunt} ${m.reason}  ${m.from.player} -> ${m.to.player}  ${what(m.to)}`));
  if (d.changed.length) out.push('', 'changed prize:', ...d.changed.map((m) => `  ~ ${m.hunt} ${m.reason}  ${m.to.player}  ${what(m.from)} -> ${what(m.to)}`));
  const players = Object.entries(d.players);
  if (players.length) {
    out.push('', 'per player:');
    for (const [name, x] of players) out.push(`  ${name}: ${[...x.gained.map((p) => `+${what(p)} (${p.reason})`), ...x.lost.map((p) => `-${what(p)} (${p.reason})`)].join(', ')}`);
  }
  return `${out.join('\n')}\n`;
}
