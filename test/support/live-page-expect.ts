/**
 * What the live page must show for a replayed hunt, computed without the page's code:
 * the top 10 from the worker's stored state (hunt/hunt-store.ts) ranked by the
 * leaderboard's rule, with the prizes the plugins granted summed per item.
 */
import { readFileSync } from 'node:fs';
import type { Stack } from '../../cli/stack.js';
import { readHuntState } from '../../hunt/hunt-store.js';
import type { ReplayPrize } from '../../cli/replay.js';

export interface ExpectedRow {
  player: string;
  found: number;
  prizes: string;
}

/** "3 bread, 1 crown": prizes of one player, items in string order. */
export function prizeText(items: Map<string, number>): string {
  return [...items].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([item, n]) => `${n} ${item}`).join(', ');
}

export async function expectedLeaderboard(stack: Stack, hunt: string, prizes: ReplayPrize[]): Promise<ExpectedRow[]> {
  const state = await readHuntState(stack.redis, stack.keys, hunt);
  if (!state) throw new Error(`no stored state for hunt ${hunt}`);
  const won = new Map<string, Map<string, number>>();
  for (const p of prizes) {
    const items = won.get(p.player) ?? new Map<string, number>();
    items.set(p.item, (items.get(p.item) ?? 0) + p.count);
    won.set(p.player, items);
  }
  return Object.entries(state.players)
    .map(([player, f]) => ({ player, found: Object.keys(f.f).length, last: f.lt }))
    .sort((a, b) => b.found - a.found || a.last - b.last || (a.player < b.player ? -1 : 1))
    .slice(0, 10)
    .map((r) => ({ player: r.player, found: r.found, prizes: prizeText(won.get(r.player) ?? new Map()) }));
}

/** Players online per server at the end of a trace, from its join and leave lines. */
export function onlineAtEnd(traceFile: string): Record<string, number> {
  const online = new Map<string, Set<string>>();
  for (const line of readFileSync(traceFile, 'utf8').split('\n')) {
    if (!line) continue;
    const l = JSON.parse(line) as { server: string; type: string; player: string };
    const set = online.get(l.server) ?? new Set<string>();
    online.set(l.server, set);
    if (l.type === 'join') set.add(l.player);
    else if (l.type === 'leave') set.delete(l.player);
  }
  return Object.fromEntries([...online].map(([s, set]) => [s, set.size]));
}

/** Every number a treasure's position is written with, as the page could leak it. */
export function coordinateStrings(treasures: { at: number[] }[]): string[] {
  return treasures.map((t) => t.at.join(','));
}
