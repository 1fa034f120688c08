/**
 * The sample fixture as the worker sees it: the trace run through the plugin's real
 * triggers (plugin/triggers.ts) into discrete events, cut into batches and parts the
 * way a gateway would, as Kinesis record payloads (gateway/record-format.ts).
 */
import { readFileSync } from 'node:fs';
import { loadRulesFile } from '../../../plugin/rules-file.js';
import { rulesHash, type DiscreteEvent, type HuntRules } from '../../../protocol/index.js';
import { TreasureIndex, Triggers, type Entry } from '../../../plugin/triggers.js';
import { RECORD_FORMAT_VERSION, type EventRecord } from '../../../backend/kinesis/record-format.js';
import { rng } from '../../../plugin/hosts/sim-host.js';

export const FIXTURE_DIR = new URL('../../fixtures/sample-hunt/', import.meta.url).pathname;

export interface ExpectedPrize {
  hunt: string;
  reason: string;
  player: string;
  server: string;
  item: string;
  count: number;
}

export function fixtureRules(window?: string): HuntRules {
  const rules = loadRulesFile(`${FIXTURE_DIR}rules.json`);
  return window === undefined ? rules : { ...rules, window };
}

export function expectedPrizes(): ExpectedPrize[] {
  const raw = JSON.parse(readFileSync(`${FIXTURE_DIR}expected.json`, 'utf8')) as ExpectedPrize[];
  return raw.map(({ hunt, reason, player, server, item, count }) => ({ hunt, reason, player, server, item, count }));
}

type TraceLine =
  | { t: number; server: string; type: 'join'; player: string; perms?: string[] }
  | { t: number; server: string; type: 'leave'; player: string }
  | { t: number; server: string; type: 'move'; player: string; region: string; at: [number, number, number] }
  | { t: number; server: string; type: 'command'; player: string; line: string }
  | { t: number; server: string; type: 'inventory'; player: string };

export interface ServerEvents {
  server: string;
  epoch: number;
  /** discrete events in time order, as the plugin would send them */
  events: DiscreteEvent[];
}

export interface FixtureEvents {
  servers: ServerEvents[];
  /** time of the last trace line */
  lastT: number;
  firstT: number;
}

/**
 * Runs the trace through one Triggers per server. Commands from a player holding
 * cairn.admin (per the join's perms) become start/stop events carrying the rules and
 * their hash; other commands are ignored (denied). Every server first reports its
 * rules (a `rules` event), as a plugin does at start-up.
 */
export function fixtureEvents(rules: HuntRules, epoch = 1): FixtureEvents {
  const hash = rulesHash(rules);
  const lines = readFileSync(`${FIXTURE_DIR}trace.ndjson`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as TraceLine);
  const per = new Map<string, { triggers: Triggers; perms: Map<string, string[]>; n: number; index: Map<string, number>; out: DiscreteEvent[] }>();
  const index = new TreasureIndex([rules]);
  const firstT = lines[0]!.t;
  const entries: Entry[] = [];
  for (const l of lines) {
    let s = per.get(l.server);
    if (!s) {
      s = { triggers: new Triggers(index), perms: new Map(), n: 0, index: new Map(), out: [] };
      per.set(l.server, s);
      s.out.push({ k: 'rules', e: epoch, n: ++s.n, t: firstT, hunt: rules.id, rules, hash });
    }
    switch (l.type) {
      case 'join': {
        s.triggers.join(l.player);
        s.perms.set(l.player, l.perms ?? []);
        const i = s.index.size;
        s.index.set(l.player, i);
        s.out.push({ k: 'join', e: epoch, n: ++s.n, t: l.t, p: l.player, i });
        break;
      }
      case 'leave':
        s.triggers.leave(l.player);
        s.out.push({ k: 'leave', e: epoch, n: ++s.n, t: l.t, p: l.player });
        break;
      case 'move':
        entries.length = 0;
        s.triggers.move(l.player, l.t, l.region, l.at, entries);
        for (const en of entries) {
          s.out.push({
            k: 'enter', e: epoch, n: ++s.n, t: l.t, p: l.player, hunt: en.treasure.hunt, tr: en.treasure.id, region: l.region, at: l.at,
            ...(en.suspect ? { sus: 1 as const } : {}),
          });
        }
        break;
      case 'command': {
        const m = /^hunt (start|stop) (\S+)$/.exec(l.line.trim());
        if (!m || !(s.perms.get(l.player) ?? []).includes('cairn.admin') || m[2] !== rules.id) break;
        if (m[1] === 'start') s.out.push({ k: 'start', e: epoch, n: ++s.n, t: l.t, p: l.player, hunt: rules.id, rules, hash });
        else s.out.push({ k: 'stop', e: epoch, n: ++s.n, t: l.t, p: l.player, hunt: rules.id });
        break;
      }
      default:
        break;
    }
  }
  return {
    servers: [...per.entries()].map(([server, s]) => ({ server, epoch, events: s.out })).sort((a, b) => (a.server < b.server ? -1 : 1)),
    lastT: lines[lines.length - 1]!.t,
    firstT,
  };
}

/** Small deterministic PRNG (mulberry32), so a failing split can be reproduced from its seed. */
export const prng = rng;

export function shuffle<T>(xs: T[], rnd: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

export interface SplitOptions {
  seed: number;
  /** events per batch, uniformly in [min, max] */
  batchMin: number;
  batchMax: number;
  /** parts per batch, uniformly in [1, maxParts] */
  maxParts: number;
  /** watermark of the final (empty) batch; omitted: no final batch */
  finalWm?: number;
}

/**
 * Cuts one server's events into batches (seq from 1) and each batch into parts. Each
 * batch's watermark is just below the next batch's first event time, as a plugin's
 * would be; the optional final batch is the heartbeat a plugin sends at the end.
 */
export function toRecords(se: ServerEvents, opt: SplitOptions): EventRecord[] {
  const rnd = prng(opt.seed);
  const out: EventRecord[] = [];
  const evs = se.events;
  let q = 0;
  let i = 0;
  while (i < evs.length) {
    const size = opt.batchMin + Math.floor(rnd() * (opt.batchMax - opt.batchMin + 1));
    const batch = evs.slice(i, i + size);
    i += batch.length;
    const next = evs[i];
    const wm = next ? next.t - 1 : batch[batch.length - 1]!.t;
    out.push(...partsOf(se.server, se.epoch, ++q, wm, batch, 1 + Math.floor(rnd() * opt.maxParts)));
  }
  if (opt.finalWm !== undefined) out.push(...partsOf(se.server, se.epoch, ++q, opt.finalWm, [], 1));
  return out;
}

export function partsOf(s: string, e: number, q: number, wm: number, ev: DiscreteEvent[], parts: number): EventRecord[] {
  const np = Math.max(1, Math.min(parts, ev.length || 1));
  const per = Math.ceil(ev.length / np);
  return Array.from({ length: np }, (_, pt) => ({ v: RECORD_FORMAT_VERSION, s, e, q, pt, np, wm, ev: ev.slice(pt * per, (pt + 1) * per) }));
}
