/**
 * Builds small traces for the hunt-semantics tests, and the reference prizes for them:
 * the plugin's own trigger code and the worker's own fold run in-process, no transport.
 * The full pipeline (replay) must give exactly the reference prizes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rulesHash, type HuntEvent, type HuntRules, type Vec3 } from '../../protocol/index.js';
import { TreasureIndex, Triggers, type Entry } from '../../plugin/triggers.js';
import { emptyHuntState, foldWindow, type DecidedPrize } from '../../hunt/hunt-fold.js';
import type { TraceLine } from '../../plugin/hosts/trace.js';

export const T0 = Date.UTC(2026, 11, 1, 18, 0, 0);

export class TraceBuilder {
  readonly lines: TraceLine[] = [];
  join(t: number, server: string, player: string, perms: string[] = []) {
    this.lines.push({ t: T0 + t, server, type: 'join', player, perms });
    return this;
  }
  leave(t: number, server: string, player: string) {
    this.lines.push({ t: T0 + t, server, type: 'leave', player });
    return this;
  }
  move(t: number, server: string, player: string, region: string, at: Vec3) {
    this.lines.push({ t: T0 + t, server, type: 'move', player, region, at });
    return this;
  }
  command(t: number, server: string, player: string, line: string) {
    this.lines.push({ t: T0 + t, server, type: 'command', player, line });
    return this;
  }
  /** NDJSON, stably sorted by time as a trace must be. */
  ndjson(): string {
    return [...this.lines]
      .map((l, i) => ({ l, i }))
      .sort((a, b) => a.l.t - b.l.t || a.i - b.i)
      .map(({ l }) => JSON.stringify(l))
      .join('\n') + '\n';
  }
  writeTo(dir = mkdtempSync(join(tmpdir(), 'cairn-trace-'))): string {
    const file = join(dir, 'trace.ndjson');
    writeFileSync(file, this.ndjson());
    return file;
  }
}

export function writeRules(rules: HuntRules, dir = mkdtempSync(join(tmpdir(), 'cairn-rules-'))): string {
  const file = join(dir, `${rules.id}.json`);
  writeFileSync(file, JSON.stringify(rules, null, 2));
  return file;
}

export type PrizeKey = Pick<DecidedPrize, 'hunt' | 'reason' | 'player' | 'server' | 'item' | 'count'>;

export const byHuntReason = (a: PrizeKey, b: PrizeKey) => (a.hunt < b.hunt ? -1 : a.hunt > b.hunt ? 1 : a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0);

export function prizeKeys(prizes: PrizeKey[]): PrizeKey[] {
  return prizes.map(({ hunt, reason, player, server, item, count }) => ({ hunt, reason, player, server, item, count })).sort(byHuntReason);
}

/** Reference prizes of a trace (sorted by hunt, reason). */
export function referencePrizes(hunts: HuntRules[], lines: TraceLine[]): PrizeKey[] {
  const index = new TreasureIndex(hunts);
  const triggers = new Map<string, Triggers>();
  const perms = new Map<string, string[]>();
  const events = new Map<string, HuntEvent[]>(hunts.map((h) => [h.id, []]));
  const out: Entry[] = [];
  let n = 0;
  const sorted = [...lines].map((l, i) => ({ l, i })).sort((a, b) => a.l.t - b.l.t || a.i - b.i).map(({ l }) => l);
  // Like the replay: every server's plugin starts at the trace's first moment and reports
  // the rules it loaded.
  const firstT = sorted[0]?.t ?? 0;
  for (const server of new Set(sorted.map((l) => l.server))) {
    for (const h of hunts) events.get(h.id)!.push({ k: 'rules', e: 1, n: ++n, t: firstT, hunt: h.id, rules: h, hash: rulesHash(h), server });
  }
  for (const s of sorted) {
    let tr = triggers.get(s.server);
    if (!tr) triggers.set(s.server, (tr = new Triggers(index)));
    const e = 1;
    if (s.type === 'join') {
      tr.join(s.player);
      perms.set(`${s.server}/${s.player}`, s.perms);
    } else if (s.type === 'leave') tr.leave(s.player);
    else if (s.type === 'move') {
      out.length = 0;
      tr.move(s.player, s.t, s.region, s.at, out);
      for (const x of out) {
        events.get(x.treasure.hunt)!.push({ k: 'enter', e, n: ++n, t: s.t, p: s.player, hunt: x.treasure.hunt, tr: x.treasure.id, region: s.region, at: s.at, ...(x.suspect ? { sus: 1 as const } : {}), server: s.server });
      }
    } else if (s.type === 'command') {
      if (!(perms.get(`${s.server}/${s.player}`) ?? []).includes('cairn.admin')) continue;
      const [word, verb, id] = s.line.trim().split(/\s+/);
      const rules = hunts.find((h) => h.id === id);
      if (word !== 'hunt' || !rules) continue;
      if (verb === 'start') events.get(id!)!.push({ k: 'start', e, n: ++n, t: s.t, p: s.player, hunt: id!, rules, hash: rulesHash(rules), server: s.server });
      if (verb === 'stop') events.get(id!)!.push({ k: 'stop', e, n: ++n, t: s.t, p: s.player, hunt: id!, server: s.server });
    }
  }
  return prizeKeys(hunts.flatMap((h) => foldWindow(emptyHuntState(h.id), events.get(h.id)!)));
}

/** A one-treasure hunt at the origin of region r1, radius 3, with a prize for every rank up to 100. */
export function tinyHunt(over: Partial<HuntRules> = {}): HuntRules {
  return {
    id: 'tiny',
    name: 'Tiny',
    window: '10s',
    treasures: [
      { id: 'oak', region: 'r1', at: [0, 64, 0], radius: 3, prizes: [{ ranks: '1', item: 'gold', count: 5 }, { ranks: '2-100', item: 'bread', count: 1 }] },
    ],
    ...over,
  };
}
