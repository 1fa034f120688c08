/**
 * The prize ledger's state in memory: the latest state of each prize by identity
 * (`${hunt}|${reason}`), with the held and uncertain prizes indexed for the checks made on
 * every join and by the admin commands. prize-ledger.ts decides and records; this holds.
 */
import { prizeIdentity, type PrizeGift, type PrizeView } from '../protocol/index.js';
import type { LedgerRecord } from './ledger-file.js';

/**
 * A prize's state in memory: a ledger status, or 'uncertain' (an intent without an outcome
 * found at start, with a host that cannot give idempotently).
 */
export type PrizeState = LedgerRecord['status'] | 'uncertain';
export interface LedgerEntry extends Omit<LedgerRecord, 'status'> {
  status: PrizeState;
}

export class PrizeStates {
  /** identity -> latest state */
  private readonly byId = new Map<string, LedgerEntry>();
  /** player -> identities held for them */
  private readonly heldBy = new Map<string, Set<string>>();
  private readonly uncertainIds = new Set<string>();

  /** The latest state of a prize, by identity. */
  get(identity: string): LedgerEntry | undefined {
    return this.byId.get(identity);
  }

  /** Every prize in the ledger, one entry each (its latest state). */
  records(): LedgerEntry[] {
    return [...this.byId.values()];
  }

  /** Every prize as the plugin reports it: granted, or 'pending' (held, or uncertain). */
  views(): PrizeView[] {
    return this.records().map((r) => ({
      hunt: r.hunt,
      reason: r.reason,
      player: r.player,
      server: r.server,
      item: r.item,
      count: r.count,
      status: r.status === 'granted' ? 'granted' : 'pending',
    }));
  }

  /** The prizes held for `player` (for every player when undefined). */
  held(player?: string): PrizeGift[] {
    return this.gifts((r) => r.status === 'held' && (player === undefined || r.player === player));
  }

  /** Grants a crash interrupted that only an admin can resolve. */
  uncertain(): PrizeGift[] {
    return this.gifts((r) => r.status === 'uncertain');
  }

  /** Prizes held right now. */
  get heldNow(): number {
    let n = 0;
    for (const s of this.heldBy.values()) n += s.size;
    return n;
  }

  get uncertainNow(): number {
    return this.uncertainIds.size;
  }

  /** Players with held prizes (the plugin gives them at start to those already online). */
  playersWithHeld(): string[] {
    return [...this.heldBy.keys()];
  }

  /** O(1): whether `player` has held prizes (checked on every join). */
  hasHeld(player: string): boolean {
    return this.heldBy.has(player);
  }

  /** `force`: a state the ledger itself derives or restores, over whatever is indexed. */
  protected index(rec: LedgerEntry, force = false): void {
    const identity = prizeIdentity(rec);
    const prev = this.byId.get(identity);
    // 'granted' is final: a stray record after it (never written by us) must not re-arm a grant.
    if (prev?.status === 'granted' && !force) return;
    if (prev) this.unindex(identity, prev);
    this.byId.set(identity, rec);
    if (rec.status === 'held') {
      let set = this.heldBy.get(rec.player);
      if (!set) this.heldBy.set(rec.player, (set = new Set()));
      set.add(identity);
    } else if (rec.status === 'uncertain') this.uncertainIds.add(identity);
  }

  /** Puts back what `identity` was before (undefined: nothing). */
  protected restore(identity: string, prev: LedgerEntry | undefined): void {
    const cur = this.byId.get(identity);
    if (cur) this.unindex(identity, cur);
    if (prev) this.index(prev, true);
    else this.byId.delete(identity);
  }

  private unindex(identity: string, rec: LedgerEntry): void {
    const set = this.heldBy.get(rec.player);
    set?.delete(identity);
    if (set?.size === 0) this.heldBy.delete(rec.player);
    this.uncertainIds.delete(identity);
  }

  private gifts(keep: (r: LedgerEntry) => boolean): PrizeGift[] {
    return this.records()
      .filter(keep)
      .map(({ player, hunt, reason, item, count }) => ({ player, hunt, reason, item, count }));
  }
}
