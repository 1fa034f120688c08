/**
 * The hunt semantics as a pure fold (DESIGN.md "Hunt semantics"): hunt state plus the
 * events of one closed window, in any order, give the next state and the prizes the
 * window decides. Deterministic: the events are sorted here, ties broken by the
 * contract's order, so batching, sharding and arrival order cannot change a prize.
 */
import { prizeForRank, type HuntEvent, type HuntRules, type PrizeAward } from '../protocol/index.js';

export interface PlayerFinds {
  /** treasure id -> find time */
  f: Record<string, number>;
  /** time, server of the latest find */
  lt: number;
  ls: string;
}

export interface HuntState {
  hunt: string;
  running: boolean;
  /** rules in force: those carried by the start that began the current run */
  rules: HuntRules | null;
  hash: string | null;
  /** treasure id -> number of finders so far (the next finder's rank - 1) */
  finders: Record<string, number>;
  players: Record<string, PlayerFinds>;
  completions: number;
  /** entries that broke maxSpeed, for `hunt suspects` */
  suspects: number;
  /** the latest rules servers reported loading (rules events): what a `schedule` runs with */
  loaded?: { rules: HuntRules; hash: string } | null;
  /** schedule boundaries already applied, so each acts once */
  schedStarted?: boolean;
  schedEnded?: boolean;
  /** rules of a `hunt reload`, in force from the next window of a running hunt */
  reloaded?: { rules: HuntRules; hash: string } | null;
  /** server -> hash of rules it loaded that differ from the rules in force (reported, not used) */
  mismatched?: Record<string, string>;
}

export interface DecidedPrize extends PrizeAward {
  /** time of the deciding find */
  t: number;
}

export function emptyHuntState(hunt: string): HuntState {
  return { hunt, running: false, rules: null, hash: null, finders: {}, players: {}, completions: 0, suspects: 0 };
}

const KIND_ORDER: Record<HuntEvent['k'], number> = { rules: 0, start: 0, stop: 0, enter: 1 };
const playerOf = (e: HuntEvent) => ('p' in e ? e.p : '');

/**
 * Order within equal time: commands first (start is inclusive, stop exclusive), then
 * entries by server id, then player id; the rest only makes the order total.
 */
export function compareHuntEvents(a: HuntEvent, b: HuntEvent): number {
  return (
    a.t - b.t ||
    KIND_ORDER[a.k] - KIND_ORDER[b.k] ||
    (a.server < b.server ? -1 : a.server > b.server ? 1 : 0) ||
    (playerOf(a) < playerOf(b) ? -1 : playerOf(a) > playerOf(b) ? 1 : 0) ||
    a.e - b.e ||
    a.n - b.n
  );
}

/**
 * A `schedule` acts as a `hunt start` at its start and a `hunt stop` at its end. Applied
 * lazily, before the first event at or after each boundary: only entries read the running
 * flag, so applying a boundary late (but before any later event) changes nothing, and an
 * entry at exactly the start counts while one at exactly the end does not.
 */
function applySchedule(state: HuntState, t: number): void {
  const loaded = state.loaded;
  const sched = loaded?.rules.schedule;
  if (!loaded || !sched) return;
  const start = sched.start !== undefined ? Date.parse(sched.start) : undefined;
  const end = sched.end !== undefined ? Date.parse(sched.end) : undefined;
  if (start !== undefined && !state.schedStarted && start <= t && (end === undefined || start < end)) {
    state.schedStarted = true;
    if (!state.running) {
      state.running = true;
      state.rules = loaded.rules;
      state.hash = loaded.hash;
    }
  }
  if (end !== undefined && !state.schedEnded && end <= t) {
    state.schedEnded = true;
    state.schedStarted = true;
    state.running = false;
  }
}

/**
 * Treasure positions by id, computed once per rules object rather than per event (in
 * the window-close benchmark, a window of 230 k entries spent a third of its fold in findIndex and rank
 * parsing; ranks are cached in protocol's prizeForRank).
 */
const treasureIndexes = new WeakMap<HuntRules, Map<string, number>>();
function treasureIndex(rules: HuntRules, id: string): number {
  let m = treasureIndexes.get(rules);
  if (!m) {
    m = new Map();
    rules.treasures.forEach((t, i) => m!.has(t.id) || m!.set(t.id, i));
    treasureIndexes.set(rules, m);
  }
  return m.get(id) ?? -1;
}


/**
 * Folds one window's events into `state` (mutated) and returns the prizes they decide.
 * `changed`, when given, receives every player whose finds changed.
 */
export function foldWindow(state: HuntState, events: HuntEvent[], changed?: Set<string>): DecidedPrize[] {
  const prizes: DecidedPrize[] = [];
  if (state.reloaded) {
    // A reload applies from the window after the one it happened in.
    if (state.running) {
      state.rules = state.reloaded.rules;
      state.hash = state.reloaded.hash;
    }
    state.reloaded = null;
  }
  const sorted = [...events].sort(compareHuntEvents);
  for (const ev of sorted) {
    applySchedule(state, ev.t);
    if (ev.k === 'rules') {
      state.loaded = { rules: ev.rules, hash: ev.hash };
      if (ev.reload) state.reloaded = { rules: ev.rules, hash: ev.hash };
      const mismatched = (state.mismatched ??= {});
      if (state.hash !== null && ev.hash !== state.hash && !ev.reload) mismatched[ev.server] = ev.hash;
      else delete mismatched[ev.server];
      continue;
    }
    if (ev.k === 'start') {
      if (!state.running) {
        state.running = true;
        state.rules = ev.rules;
        state.hash = ev.hash;
      }
      continue;
    }
    if (ev.k === 'stop') {
      state.running = false;
      continue;
    }
    const rules = state.rules;
    if (!state.running || !rules) continue;
    if (ev.sus) {
      state.suspects++;
      continue;
    }
    const idx = treasureIndex(rules, ev.tr);
    const treasure = rules.treasures[idx];
    if (!treasure || treasure.region !== ev.region) continue;
    const pf = state.players[ev.p];
    if (pf && pf.f[ev.tr] !== undefined) continue;
    if (rules.ordered && idx > 0) {
      const before = pf?.f[rules.treasures[idx - 1]!.id];
      if (before === undefined || before >= ev.t) continue;
    }
    const rank = (state.finders[ev.tr] ?? 0) + 1;
    state.finders[ev.tr] = rank;
    const finds = pf ?? (state.players[ev.p] = { f: {}, lt: 0, ls: '' });
    finds.f[ev.tr] = ev.t;
    finds.lt = ev.t;
    finds.ls = ev.server;
    changed?.add(ev.p);
    const prize = prizeForRank(treasure.prizes, rank);
    if (prize) {
      prizes.push({ hunt: state.hunt, reason: `treasure:${ev.tr}:${rank}`, player: ev.p, server: ev.server, item: prize.item, count: prize.count, t: ev.t });
    }
    if (rules.completion && rules.treasures.every((t) => finds.f[t.id] !== undefined)) {
      const crank = ++state.completions;
      const cprize = prizeForRank(rules.completion.prizes, crank);
      if (cprize) {
        prizes.push({ hunt: state.hunt, reason: `completion:${crank}`, player: ev.p, server: ev.server, item: cprize.item, count: cprize.count, t: ev.t });
      }
    }
  }
  return prizes;
}
