/**
 * The prize, one family of types for every stage. A prize is decided once per
 * (hunt, reason) by the worker, travels to the server of the deciding find, and is
 * granted there; each stage adds what it knows to the same shape.
 */

/** What identifies a prize everywhere: reason is `treasure:<id>:<rank>` or `completion:<rank>`. */
export interface PrizeKey {
  hunt: string;
  reason: string;
}

/** What a prize gives, and to whom. */
export interface PrizeGift extends PrizeKey {
  player: string;
  item: string;
  count: number;
}

/** A prize with the server that grants it (the server of the deciding find). */
export interface PrizeAward extends PrizeGift {
  server: string;
}

/** A prize as a plugin reports it (the replay output): granted, or pending while the player is offline. */
export interface PrizeView extends PrizeAward {
  status: 'granted' | 'pending';
}

/** The one string form of a prize's identity (ledger keys, dedupe sets). */
export const prizeIdentity = (p: PrizeKey): string => `${p.hunt}|${p.reason}`;
