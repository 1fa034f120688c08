/**
 * The Host interface: everything the plugin knows about the game. A host adapter
 * (sim, replay, flying-squid, a Hytale bridge) implements it and feeds raw samples
 * into the plugin with `CairnPlugin.accept(sample)`.
 */
import type { PrizeKey, Vec3 } from '../protocol/index.js';

export type Sample =
  | { type: 'join'; t: number; player: string }
  | { type: 'leave'; t: number; player: string }
  | { type: 'move'; t: number; player: string; region: string; at: Vec3 }
  | { type: 'inventory'; t: number; player: string; item: string; count: number }
  | { type: 'command'; t: number; player: string; line: string };

export interface Host {
  /** The id this game server has on the wire; unique per server. */
  readonly serverId: string;
  /** Current time in ms since the Unix epoch (the trace's time in replay). */
  now(): number;
  isOnline(player: string): boolean;
  hasPermission(player: string, node: string): boolean;
  /**
   * Gives items to an online player; returns false when that is not possible now. `prize` is
   * the prize being granted (absent for a manual `hunt grant`): a host that hands the give on
   * to another process (the sidecar's bridge) uses it as an idempotency key there.
   */
  giveItem(player: string, item: string, count: number, prize?: PrizeKey): boolean;
  /**
   * Whether giveItem gives each `prize` at most once, across restarts of the game and of the
   * plugin: the host tags the item with the prize, or keeps a durable set of the prizes it
   * applied, and answers true without giving again for one it already applied. With it, the
   * plugin resolves a grant that a crash interrupted (its intent recorded, its outcome not)
   * by giving it again through the host; without it, such a grant is held as uncertain for
   * an admin (`/hunt prizes --uncertain`, resolved with `/hunt grant`). @default false
   */
  readonly idempotentGive?: boolean;
  /** Sends a chat/system message to a player (or the console for player '@console'). */
  tell(player: string, message: string): void;
}
