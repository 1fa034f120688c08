/**
 * The replay host: a game server whose world is a trace. Time is the trace's time,
 * set by the replay driver; permissions come from the trace's join lines.
 */
import type { Host, Sample } from '../host.js';
import type { TraceLine } from './trace.js';

export interface GivenItem {
  player: string;
  item: string;
  count: number;
  t: number;
}

export class ReplayHost implements Host {
  private clock: number;
  private readonly online = new Map<string, Set<string>>();
  readonly given: GivenItem[] = [];
  readonly messages: { player: string; message: string; t: number }[] = [];

  constructor(
    readonly serverId: string,
    startTime: number,
  ) {
    this.clock = startTime;
  }

  now(): number {
    return this.clock;
  }

  /** Moves the clock forward (never back). */
  setTime(t: number): void {
    if (t > this.clock) this.clock = t;
  }

  isOnline(player: string): boolean {
    return this.online.has(player);
  }

  hasPermission(player: string, node: string): boolean {
    return this.online.get(player)?.has(node) ?? false;
  }

  giveItem(player: string, item: string, count: number): boolean {
    if (!this.online.has(player)) return false;
    this.given.push({ player, item, count, t: this.clock });
    return true;
  }

  tell(player: string, message: string): void {
    this.messages.push({ player, message, t: this.clock });
  }

  /** Applies a trace line to the host's world and returns the sample the plugin sees. */
  apply(line: TraceLine): Sample {
    this.setTime(line.t);
    switch (line.type) {
      case 'join':
        this.online.set(line.player, new Set(line.perms));
        return { type: 'join', t: line.t, player: line.player };
      case 'leave':
        this.online.delete(line.player);
        return { type: 'leave', t: line.t, player: line.player };
      case 'move':
        // The line itself: it has every field of a move sample (and allocating one per line
        // is a measurable part of a replay's cost at a million lines a second).
        return line;
      case 'inventory':
        return { type: 'inventory', t: line.t, player: line.player, item: line.item, count: line.count };
      case 'command':
        return { type: 'command', t: line.t, player: line.player, line: line.line };
    }
  }
}
