/**
 * The hunt semantics as a pure fold (DESIGN.md "Hunt semantics"): hunt state plus the
 * events of one closed window, in any order, give the next state and the prizes the
 * window decides. Deterministic: the events are sorted here, ties broken by the
 * contract's order (compareHuntEvents), so batching, sharding and arrival order cannot
 * change a prize.
 *
 * One fold, two ways in: foldWindow takes events and a HuntState as objects (tests,
 * tools); the worker's closer calls foldEvents with the window's events in columns
 * (window-events.ts) and the players in flat arrays (player-table.ts), because a window
 * of 230 k entries spent most of its close allocating objects for them.
 */
import { prizeForRank, type HuntEvent, type HuntRules, type PrizeAward } from '../protocol/index.js';
import { PlayerTable } from './player-table.js';
import { WindowEvents } from './window-events.js';

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
 * One find applied to a player's finds, as the fold applies it. A window's finds come
 * after every earlier window's, and in time order within it, so applying a window's new
 * finds in order over any earlier finds gives the finds after the window; applying them
 * again over that result changes nothing (find-list.ts relies on it).
 */
export function applyFind(pf: PlayerFinds, server: string, tr: string, t: number): void {
  pf.f[tr] = t;
  pf.lt = t;
  pf.ls = server;
}

/**
 * Folds one window's events into `state` (mutated) and returns the prizes they decide.
 * `changed`, when given, receives every player whose finds changed.
 */
export function foldWindow(state: HuntState, events: HuntEvent[], changed?: Set<string>): DecidedPrize[] {
  const w = new WindowEvents(events.length);
  for (const ev of events) w.add(ev);
  const table = new PlayerTable();
  for (const p in state.players) table.load(p, state.players[p]!);
  table.markHistory();
  const prizes = foldEvents(state, table, w);
  for (let f = table.history; f < table.finds; f++) {
    const slot = table.fPlayer[f]!;
    const p = table.ids[slot]!;
    state.players[p] = table.playerFinds(slot);
    changed?.add(p);
  }
  return prizes;
}

/**
 * The fold itself: `w` in the contract's order over `state` (mutated; its `players` are
 * not used) and `table` (holding at least every player `w` names, with their earlier
 * finds; the finds the window makes are added to it, after its history).
 */
export function foldEvents(state: HuntState, table: PlayerTable, w: WindowEvents): DecidedPrize[] {
  const prizes: DecidedPrize[] = [];
  if (state.reloaded) {
    // A reload applies from the window after the one it happened in.
    if (state.running) {
      state.rules = state.reloaded.rules;
      state.hash = state.reloaded.hash;
    }
    state.reloaded = null;
  }
  const order = w.order();
  const N = w.size;
  const serverOf = w.servers.map((id) => table.server(id));
  // Finder counts by the table's treasure index, read from and written back to state.finders.
  const finders: number[] = [];
  // w's (treasure, region) pairs -> index of that treasure in the rules in force, or -1;
  // and the rules' treasures -> the table's index of their ids.
  let mappedFor: HuntRules | null = null;
  let treasureOf = new Int32Array(0);
  let tableTr = new Int32Array(0);
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    if (i >= N) {
      foldCommand(state, w.commands[i - N]!);
      continue;
    }
    const t = w.t[i]!;
    applySchedule(state, t);
    const rules = state.rules;
    if (!state.running || !rules) continue;
    if (w.sus[i] === 1) {
      state.suspects++;
      continue;
    }
    if (rules !== mappedFor) {
      mappedFor = rules;
      treasureOf = new Int32Array(w.treasures.length);
      w.treasures.forEach((x, j) => {
        const idx = treasureIndex(rules, x.tr);
        treasureOf[j] = idx >= 0 && rules.treasures[idx]!.region === x.region ? idx : -1;
      });
      tableTr = Int32Array.from(rules.treasures, (x) => table.treasure(x.id));
    }
    const idx = treasureOf[w.tr[i]!]!;
    if (idx < 0) continue;
    const tt = tableTr[idx]!;
    const slot = table.slot(w.p[i]!);
    if (table.findTime(slot, tt) !== undefined) continue;
    if (rules.ordered && idx > 0) {
      const before = table.findTime(slot, tableTr[idx - 1]!);
      if (before === undefined || before >= t) continue;
    }
    const treasure: HuntRules['treasures'][number] = rules.treasures[idx]!;
    const rank = (finders[tt] ??= state.finders[treasure.id] ?? 0) + 1;
    finders[tt] = rank;
    const server = serverOf[w.srv[i]!]!;
    table.addFind(slot, tt, t, server);
    const prize = prizeForRank(treasure.prizes, rank);
    if (prize) {
      prizes.push({ hunt: state.hunt, reason: `treasure:${treasure.id}:${rank}`, player: w.p[i]!, server: table.servers[server]!, item: prize.item, count: prize.count, t });
    }
    if (rules.completion && table.found[slot]! >= rules.treasures.length && foundAll(table, slot, tableTr)) {
      const crank = ++state.completions;
      const cprize = prizeForRank(rules.completion.prizes, crank);
      if (cprize) {
        prizes.push({ hunt: state.hunt, reason: `completion:${crank}`, player: w.p[i]!, server: table.servers[server]!, item: cprize.item, count: cprize.count, t });
      }
    }
  }
  finders.forEach((n, tt) => (state.finders[table.treasures[tt]!] = n));
  return prizes;
}

function foundAll(table: PlayerTable, slot: number, treasures: Int32Array): boolean {
  for (const tt of treasures) if (table.findTime(slot, tt) === undefined) return false;
  return true;
}

function foldCommand(state: HuntState, ev: HuntEvent): void {
  applySchedule(state, ev.t);
  if (ev.k === 'rules') {
    state.loaded = { rules: ev.rules, hash: ev.hash };
    if (ev.reload) state.reloaded = { rules: ev.rules, hash: ev.hash };
    const mismatched = (state.mismatched ??= {});
    if (state.hash !== null && ev.hash !== state.hash && !ev.reload) mismatched[ev.server] = ev.hash;
    else delete mismatched[ev.server];
  } else if (ev.k === 'start') {
    if (!state.running) {
      state.running = true;
      state.rules = ev.rules;
      state.hash = ev.hash;
    }
  } else if (ev.k === 'stop') {
    state.running = false;
  }
}
