/**
 * What the game gave, against what the plugins' ledgers say they granted: each replay
 * host records every item it gave (ReplayHost.given). Items carry no prize id, so they
 * are compared as tallies of (server, player, item, count): a surplus is a prize given
 * twice, a deficit one recorded as granted but never given.
 */
import type { ReplayResult } from '../../../cli/replay.js';
import type { ReplayHost } from '../../../plugin/hosts/replay-host.js';

const key = (g: { server: string; player: string; item: string; count: number }) => `${g.server}|${g.player}|${g.item}|${g.count}`;

function tally(keys: string[]): Map<string, number> {
  return keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());
}

export interface InGame {
  /** items given in game, all hosts */
  given: number;
  /** given more often than granted: `key xN` */
  twice: string[];
  /** granted by a ledger, never given */
  missing: string[];
  /** given, though no ledger granted anything like it */
  extra: string[];
}

export function givenInGame(hosts: ReplayHost[], result: ReplayResult): InGame {
  const given = tally(hosts.flatMap((h) => h.given.map((g) => key({ server: h.serverId, ...g }))));
  const granted = tally(result.prizes.filter((p) => p.status === 'granted').map(key));
  const twice: string[] = [];
  const missing: string[] = [];
  const extra: string[] = [];
  for (const [k, n] of given) {
    const m = granted.get(k);
    if (m === undefined) extra.push(`${k} x${n}`);
    else if (n > m) twice.push(`${k} x${n - m}`);
  }
  for (const [k, m] of granted) if ((given.get(k) ?? 0) < m) missing.push(`${k} x${m - (given.get(k) ?? 0)}`);
  return { given: [...given.values()].reduce((a, b) => a + b, 0), twice, missing, extra };
}
