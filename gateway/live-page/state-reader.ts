/**
 * One hunt's figures for the live page, read from Redis: the worker's folded state (as
 * gateway/queries.ts reads it, through hunt/hunt-store.ts), its decided prizes, the prize
 * streams (prize-progress.ts) and what the event tap recorded (event-tap.ts).
 *
 * Two views. The public one is built field by field from what players may see: no
 * treasure position, region or radius, no clue, no player position. The admin one adds
 * the map: treasures with their positions, the latest entries and the maxSpeed suspects.
 *
 * The leaderboard needs every player's finds, so it is read again only when the stored
 * state changed (a window commit), not at every poll.
 */
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../../backend/redis/keys.js';
import { parseState, readHuntState } from '../../hunt/hunt-store.js';
import type { DecidedPrize, HuntState } from '../../hunt/hunt-fold.js';
import { leaderboard } from '../queries.js';
import { ENTRIES_KEPT, type TappedEntry } from './event-tap.js';
import { PrizeProgress } from './prize-progress.js';

export const LEADERBOARD_ROWS = 10;

export interface LeaderRow {
  rank: number;
  player: string;
  /** treasures found */
  found: number;
  /** time of the latest find */
  last: number;
  /** prizes won, summed per item */
  prizes: { item: string; count: number }[];
}

export interface PublicSnapshot {
  hunt: string;
  name: string | null;
  /** the worker has state for this hunt */
  known: boolean;
  running: boolean;
  windowMs: number | null;
  /** every event before this time is folded */
  closedThrough: number | null;
  windowsClosed: number;
  /** players with at least one find */
  finders: number;
  completions: number;
  leaderboard: LeaderRow[];
  /** finders per treasure, by treasure id only */
  treasures: { id: string; finders: number }[];
  online: { server: string; players: number }[];
  prizes: { decided: number; granted: number; pending: number };
}

export interface AdminSnapshot extends PublicSnapshot {
  suspects: number;
  map: {
    treasures: { id: string; region: string; at: [number, number, number]; radius: number; finders: number }[];
    /** latest entries, newest first */
    entries: TappedEntry[];
  };
}

interface Board {
  raw: string | null;
  prizeCount: number;
  rows: LeaderRow[];
  finders: number;
}

export class HuntStateReader {
  private readonly progress: PrizeProgress;
  private board: Board | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    readonly hunt: string,
  ) {
    this.progress = new PrizeProgress(redis, keys, hunt);
  }

  async read(): Promise<AdminSnapshot> {
    const { redis, keys, hunt } = this;
    const [raw, closed, windowMs, decided, servers, entries] = await Promise.all([
      redis.get(keys.state(hunt)),
      redis.get(keys.closed(hunt)),
      redis.get(keys.window(hunt)),
      redis.hlen(keys.prizes(hunt)),
      redis.hgetall(keys.servers()),
      redis.lrange(keys.entries(hunt), 0, ENTRIES_KEPT - 1),
    ]);
    const state = raw === null ? undefined : parseState(hunt, raw).state;
    const board = await this.leaderboard(raw, decided);
    const serverIds = Object.keys(servers).sort();
    const [online, progress] = await Promise.all([
      Promise.all(serverIds.map(async (s) => ({ server: s, players: await redis.scard(keys.online(s, Number(servers[s]))) }))),
      this.progress.read(serverIds),
    ]);
    const rules = state?.rules ?? state?.loaded?.rules ?? null;
    const finders = (id: string) => state?.finders[id] ?? 0;
    return {
      hunt,
      name: rules?.name ?? null,
      known: state !== undefined || closed !== null,
      running: state?.running ?? false,
      windowMs: windowMs === null ? null : Number(windowMs),
      closedThrough: closed === null ? null : Number(closed),
      windowsClosed: progress.windowsClosed,
      finders: board.finders,
      completions: state?.completions ?? 0,
      leaderboard: board.rows,
      treasures: (rules?.treasures ?? []).map((t) => ({ id: t.id, finders: finders(t.id) })),
      online,
      prizes: { decided, granted: progress.granted, pending: decided - progress.granted },
      suspects: state?.suspects ?? 0,
      map: {
        treasures: (rules?.treasures ?? []).map((t) => ({ id: t.id, region: t.region, at: t.at, radius: t.radius, finders: finders(t.id) })),
        entries: entries.map((e) => JSON.parse(e) as TappedEntry),
      },
    };
  }

  private async leaderboard(raw: string | null, prizeCount: number): Promise<Board> {
    const cached = this.board;
    if (cached && cached.raw === raw && cached.prizeCount === prizeCount) return cached;
    const [state, prizes] = await Promise.all([readHuntState(this.redis, this.keys, this.hunt), this.redis.hgetall(this.keys.prizes(this.hunt))]);
    const board: Board = { raw, prizeCount, rows: rowsOf(state, Object.values(prizes).map((p) => JSON.parse(p) as DecidedPrize)), finders: state ? Object.keys(state.players).length : 0 };
    this.board = board;
    return board;
  }
}

function rowsOf(state: HuntState | undefined, prizes: DecidedPrize[]): LeaderRow[] {
  if (!state) return [];
  const won = new Map<string, Map<string, number>>();
  for (const p of prizes) {
    const items = won.get(p.player) ?? new Map<string, number>();
    items.set(p.item, (items.get(p.item) ?? 0) + p.count);
    won.set(p.player, items);
  }
  return leaderboard(state)
    .slice(0, LEADERBOARD_ROWS)
    .map((r) => ({ ...r, prizes: [...(won.get(r.player) ?? [])].sort((a, b) => a[0].localeCompare(b[0])).map(([item, count]) => ({ item, count })) }));
}

/** The public view: an explicit copy of the fields players may see (never a spread of the admin one). */
export function publicView(s: AdminSnapshot): PublicSnapshot {
  return {
    hunt: s.hunt,
    name: s.name,
    known: s.known,
    running: s.running,
    windowMs: s.windowMs,
    closedThrough: s.closedThrough,
    windowsClosed: s.windowsClosed,
    finders: s.finders,
    completions: s.completions,
    leaderboard: s.leaderboard.map((r) => ({ rank: r.rank, player: r.player, found: r.found, last: r.last, prizes: r.prizes.map((p) => ({ item: p.item, count: p.count })) })),
    treasures: s.treasures.map((t) => ({ id: t.id, finders: t.finders })),
    online: s.online.map((o) => ({ server: o.server, players: o.players })),
    prizes: { decided: s.prizes.decided, granted: s.prizes.granted, pending: s.prizes.pending },
  };
}
