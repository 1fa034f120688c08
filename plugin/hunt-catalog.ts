/**
 * The hunts a plugin has loaded, by id, each with its rules hash computed once (the
 * hash travels with every start and rules event).
 */
import { CairnError, ErrorCode, rulesHash, type HuntRules } from '../protocol/index.js';

export interface LoadedHunt {
  readonly rules: HuntRules;
  readonly hash: string;
}

export class HuntCatalog {
  private byId = new Map<string, LoadedHunt>();

  constructor(hunts: readonly HuntRules[]) {
    this.byId = HuntCatalog.index(hunts);
  }

  private static index(hunts: readonly HuntRules[]): Map<string, LoadedHunt> {
    const byId = new Map<string, LoadedHunt>();
    for (const rules of hunts) {
      if (byId.has(rules.id)) throw new CairnError(ErrorCode.ConfigInvalid, `hunt id "${rules.id}" is loaded twice; hunt ids must be unique`);
      byId.set(rules.id, { rules, hash: rulesHash(rules) });
    }
    return byId;
  }

  /** Swaps in a new set of hunts (`hunt reload`); returns the ids whose rules changed, were added or removed. */
  replace(hunts: readonly HuntRules[]): string[] {
    const next = HuntCatalog.index(hunts);
    const changed = new Set<string>();
    for (const [id, h] of next) if (this.byId.get(id)?.hash !== h.hash) changed.add(id);
    for (const id of this.byId.keys()) if (!next.has(id)) changed.add(id);
    this.byId = next;
    return [...changed];
  }

  get(id: string): LoadedHunt | undefined {
    return this.byId.get(id);
  }

  /** Hunt ids in load order. */
  ids(): string[] {
    return [...this.byId.keys()];
  }

  all(): LoadedHunt[] {
    return [...this.byId.values()];
  }

  get size(): number {
    return this.byId.size;
  }
}
