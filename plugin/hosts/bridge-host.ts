/**
 * The bridge host: the Host of a plugin that runs in `cairn sidecar`, next to a game server
 * that is not a Node process. The game reports joins (with permission nodes), leaves, moves,
 * commands and inventory over the bridge; this host mirrors who is online with which
 * permissions, and hands gives and messages back to the game through a sink.
 *
 * Time: with clock 'wall' it is this machine's clock (the game stamps samples with the
 * same clock); with clock 'game' it is the game's, moved forward by its samples and
 * watermark lines, so a test harness or a trace player drives time as `cairn replay` does.
 */
import { randomUUID } from 'node:crypto';
import { prizeIdentity, type PrizeKey } from '../../protocol/index.js';
import type { Host, Sample } from '../host.js';
import type { SeqLine } from './bridge-protocol.js';

export type BridgeClock = 'wall' | 'game';

/**
 * With the wall clock, the plugin's watermark trails this machine's clock by this much: a
 * sample the game stamped a moment ago may still be in the bridge's queue or the socket,
 * and a watermark past its time would make it late.
 */
export const WALL_LAG_MS = 1000;

/** Where gives and messages go: the sidecar's give book and the game connection. */
export interface BridgeSink {
  /** Accepts a give for delivery (durably); the game answers given/held later. */
  give(prizeId: string, player: string, item: string, count: number): void;
  tell(player: string, text: string): void;
}

export class BridgeHost implements Host {
  private clock: number;
  private readonly online = new Map<string, Set<string>>();
  private sink: BridgeSink | undefined;

  constructor(
    readonly serverId: string,
    readonly mode: BridgeClock,
    startTime: number,
  ) {
    this.clock = startTime;
  }

  setSink(sink: BridgeSink): void {
    this.sink = sink;
  }

  now(): number {
    return this.mode === 'wall' ? Date.now() - WALL_LAG_MS : this.clock;
  }

  /** Moves the game clock forward (never back). */
  setTime(t: number): void {
    if (t > this.clock) this.clock = t;
  }

  isOnline(player: string): boolean {
    return this.online.has(player);
  }

  /** Players online now, as the game reported them. */
  players(): string[] {
    return [...this.online.keys()];
  }

  hasPermission(player: string, node: string): boolean {
    return this.online.get(player)?.has(node) ?? false;
  }

  giveItem(player: string, item: string, count: number, prize?: PrizeKey): boolean {
    if (!this.online.has(player) || !this.sink) return false;
    // A manual grant has no prize identity; a fresh id still lets the game dedupe a resend.
    this.sink.give(prize ? prizeIdentity(prize) : `grant:${randomUUID()}`, player, item, count);
    return true;
  }

  tell(player: string, message: string): void {
    this.sink?.tell(player, message);
  }

  /** A player's permission nodes changed (no sample: the session goes on). */
  setPerms(player: string, perms: string[]): void {
    if (this.online.has(player)) this.online.set(player, new Set(perms));
  }

  /** Applies a sample line to the mirror of the game and returns the sample the plugin sees. */
  apply(line: Exclude<SeqLine, { type: 'watermark' | 'perms' }>): Sample {
    this.setTime(line.t);
    switch (line.type) {
      case 'join':
        this.online.set(line.player, new Set(line.perms));
        return { type: 'join', t: line.t, player: line.player };
      case 'leave':
        this.online.delete(line.player);
        return { type: 'leave', t: line.t, player: line.player };
      case 'move':
        return { type: 'move', t: line.t, player: line.player, region: line.region, at: line.at };
      case 'inventory':
        return { type: 'inventory', t: line.t, player: line.player, item: line.item, count: line.count };
      case 'command':
        return { type: 'command', t: line.t, player: line.player, line: line.line };
    }
  }
}
