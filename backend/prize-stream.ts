/**
 * A server's prize stream (Redis Stream `RedisKeys.prizeStream(server)`): its entries'
 * fields, its retention and its parser. The worker's lua/fan-out-window-2.lua writes the
 * entries with exactly these field names, in this order (a test holds it to them); the
 * gateway's delivery reads them.
 *
 *   kind=prize   hunt, reason, player, item, count   one prize the server must grant
 *   kind=closed  hunt, start, end                    every prize of hunt for events with
 *                                                    start <= t < end was appended before it
 */
import type { PrizeGift } from '../protocol/index.js';

/** Fields of a prize entry, in the order lua/fan-out-window-2.lua writes them. */
export const PRIZE_ENTRY_FIELDS = ['kind', 'hunt', 'reason', 'player', 'item', 'count'] as const;
/** Fields of a window-closed entry, in the order lua/fan-out-window-2.lua writes them. */
export const CLOSED_ENTRY_FIELDS = ['kind', 'hunt', 'start', 'end'] as const;

/** Entries older than this are trimmed (XADD MINID at each commit); README "Retention" promises it. */
export const PRIZE_STREAM_RETENTION_MS = 24 * 60 * 60 * 1000;

export type PrizeStreamEntry =
  | ({ kind: 'prize'; id: string } & PrizeGift)
  | { kind: 'closed'; id: string; hunt: string; start: number; end: number };

/** Parses one XREAD/XREADGROUP entry ([id, [field, value, ...]]); undefined for an unknown kind. */
export function parsePrizeStreamEntry(id: string, fields: readonly string[]): PrizeStreamEntry | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  if (f.kind === 'prize' && f.hunt && f.reason && f.player && f.item && f.count) {
    return { kind: 'prize', id, hunt: f.hunt, reason: f.reason, player: f.player, item: f.item, count: Number(f.count) };
  }
  if (f.kind === 'closed' && f.hunt && f.start && f.end) {
    return { kind: 'closed', id, hunt: f.hunt, start: Number(f.start), end: Number(f.end) };
  }
  return undefined;
}
