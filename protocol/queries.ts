/**
 * The `data` of a Reply, per query kind: what the gateway answers from the worker's
 * folded hunt state (gateway/queries.ts) and what `hunt status`, `hunt leaderboard` and
 * `hunt clue` render. Times are ms since the epoch; null where nothing is known yet.
 * Type aliases rather than interfaces, so a reply is also a Record<string, unknown>
 * (Reply.data, as the codec checks it).
 */
import type { QueryKind } from './messages.js';

/** One row of a leaderboard. */
export type LeaderboardRow = {
  rank: number;
  player: string;
  /** treasures found */
  found: number;
  /** time of the player's latest find */
  last: number;
};

/** `q: 'status'`: a hunt's progress as of the last closed window. */
export type StatusReply = {
  hunt: string;
  /** the worker has state or a closed window for this hunt */
  known: boolean;
  running: boolean;
  /** hash of the rules in force, as the worker folded them */
  rulesHash: string | null;
  windowMs: number | null;
  /** end of the last closed window */
  closedThrough: number | null;
  /** finds so far, all treasures */
  finds: number;
  /** finds per treasure id */
  finders: Record<string, number>;
  completions: number;
  prizesDecided: number;
  /** entries refused as suspect (too fast) */
  suspects: number;
  /** events that arrived after their window closed */
  lateEvents: number;
  /** server -> the rules hash it runs, where it differs from the one in force */
  mismatchedServers: Record<string, string>;
};

/** `q: 'leaderboard'`: the top `n` finders, and the asking player's own row. */
export type LeaderboardReply = {
  hunt: string;
  closedThrough: number | null;
  /** players with at least one find */
  players: number;
  top: LeaderboardRow[];
  /** the asking player's row and the treasure ids they found, when they have a find */
  you?: LeaderboardRow & { treasures: string[] };
};

/** The reply of each query kind. */
export type QueryReplies = { status: StatusReply; leaderboard: LeaderboardReply };
export type QueryReplyOf<K extends QueryKind> = QueryReplies[K];
export type QueryReply = QueryReplies[QueryKind];
