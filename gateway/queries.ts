/**
 * Answers the plugin's queries (protocol `query`) from the worker's folded hunt state in
 * Redis: what `hunt status` and `hunt leaderboard` show. Read-only; state is as of the
 * last closed window.
 */
import type { Redis } from 'ioredis';
import type { LeaderboardReply, LeaderboardRow, Query, QueryReply, StatusReply } from '../protocol/index.js';
import type { HuntState } from '../hunt/hunt-fold.js';
import { parseState, readHuntState } from '../hunt/hunt-store.js';
import type { RedisKeys } from '../backend/redis/keys.js';

/** Players by treasures found (more first), ties by time of last find (earlier first), then id. */
export function leaderboard(state: HuntState): LeaderboardRow[] {
  const rows = Object.entries(state.players).map(([player, f]) => ({ player, found: Object.keys(f.f).length, last: f.lt }));
  rows.sort((a, b) => b.found - a.found || a.last - b.last || (a.player < b.player ? -1 : a.player > b.player ? 1 : 0));
  return rows.map((r, i) => ({ rank: i + 1, ...r }));
}

export async function answerQuery(redis: Redis, keys: RedisKeys, q: Query): Promise<QueryReply> {
  // The leaderboard needs every player's finds (kept in buckets); status only the summary.
  const [state, closed, windowMs, prizes, late] = await Promise.all([
    q.q === 'leaderboard'
      ? readHuntState(redis, keys, q.hunt)
      : redis.get(keys.state(q.hunt)).then((raw) => (raw === null ? undefined : parseState(q.hunt, raw).state)),
    redis.get(keys.closed(q.hunt)),
    redis.get(keys.window(q.hunt)),
    redis.hlen(keys.prizes(q.hunt)),
    redis.scard(keys.late(q.hunt)),
  ]);
  if (q.q === 'leaderboard') {
    const rows = state ? leaderboard(state) : [];
    const n = q.n ?? 10;
    const row = q.player !== undefined ? rows.find((r) => r.player === q.player) : undefined;
    // The asking player's own rank, and which treasures they found (for `hunt clue`).
    const you = row && state ? { ...row, treasures: Object.keys(state.players[row.player]!.f) } : undefined;
    const reply: LeaderboardReply = { hunt: q.hunt, closedThrough: closed ? Number(closed) : null, players: rows.length, top: rows.slice(0, n), ...(you ? { you } : {}) };
    return reply;
  }
  const finders = state?.finders ?? {};
  const reply: StatusReply = {
    hunt: q.hunt,
    known: state !== undefined || closed !== null,
    running: state?.running ?? false,
    rulesHash: state?.hash ?? null,
    windowMs: windowMs ? Number(windowMs) : null,
    closedThrough: closed ? Number(closed) : null,
    finds: Object.values(finders).reduce((a, b) => a + b, 0),
    finders,
    completions: state?.completions ?? 0,
    prizesDecided: prizes,
    suspects: state?.suspects ?? 0,
    lateEvents: late,
    mismatchedServers: state?.mismatched ?? {},
  };
  return reply;
}
