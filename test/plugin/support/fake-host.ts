/**
 * A Host for plugin unit tests: a settable clock, an online set, permissions, and a log of
 * what the plugin did to the game (items given, messages told).
 */
import type { Host } from '../../../plugin/host.js';

export class FakeHost implements Host {
  clock: number;
  readonly online = new Set<string>();
  readonly perms = new Map<string, Set<string>>();
  readonly given: Array<{ player: string; item: string; count: number }> = [];
  readonly told: Array<{ player: string; message: string }> = [];
  /** players whose giveItem returns false (inventory full, say) */
  readonly cannotReceive = new Set<string>();

  constructor(
    readonly serverId = 'srv-a',
    start = 1_795_867_200_000,
  ) {
    this.clock = start;
  }

  now(): number {
    return this.clock;
  }
  isOnline(player: string): boolean {
    return this.online.has(player);
  }
  hasPermission(player: string, node: string): boolean {
    return this.perms.get(player)?.has(node) ?? false;
  }
  giveItem(player: string, item: string, count: number): boolean {
    if (!this.online.has(player) || this.cannotReceive.has(player)) return false;
    this.given.push({ player, item, count });
    return true;
  }
  tell(player: string, message: string): void {
    this.told.push({ player, message });
  }

  grant(player: string, node: string): void {
    let set = this.perms.get(player);
    if (!set) this.perms.set(player, (set = new Set()));
    set.add(node);
  }

  toldTo(player: string): string[] {
    return this.told.filter((m) => m.player === player).map((m) => m.message);
  }
}
