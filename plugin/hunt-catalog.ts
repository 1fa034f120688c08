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
  private readonly byId = new Map<string, LoadedHunt>();

  constructor(hunts: readonly HuntRules[]) {
    for (const rules of hunts) {
      if (this.byId.has(rules.id)) throw new CairnError(ErrorCode.ConfigInvalid, `hunt id "${rules.id}" is loaded twice; hunt ids must be unique`);
      this.byId.set(rules.id, { rules, hash: rulesHash(rules) });
    }
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
