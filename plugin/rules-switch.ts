/**
 * When a `hunt reload` reaches the plugin's triggers: at the same event time as the worker's
 * fold, so both judge every sample by the same rules. The fold applies reloaded rules from
 * the window after the one the reload happened in (hunt/hunt-fold.ts); so do the triggers
 * here. Until then the old treasure set decides entries; a move sample stamped at or after
 * the next window's start switches it (one comparison per sample otherwise). A start issued
 * here switches its hunt at once, since the start event carries the new rules and the fold
 * uses a start's rules from the start on.
 */
import { windowMs, type HuntRules } from '../protocol/index.js';
import { TreasureIndex, type Triggers } from './triggers.js';

export class RulesSwitch {
  /** rules the triggers use now, by hunt id */
  private readonly inForce = new Map<string, HuntRules>();
  /** hunt id -> rules to switch to (undefined: the hunt was removed) and when */
  private readonly pending = new Map<string, { at: number; rules: HuntRules | undefined }>();
  /** event time of the earliest pending switch (Infinity: none) */
  nextAt = Infinity;

  constructor(
    private readonly triggers: Triggers,
    hunts: readonly HuntRules[],
  ) {
    for (const h of hunts) this.inForce.set(h.id, h);
  }

  /** A reload at event time `t`: each changed hunt switches at the start of the window after t's. */
  reload(t: number, hunts: readonly HuntRules[], changed: readonly string[]): void {
    const next = new Map(hunts.map((h) => [h.id, h] as const));
    for (const id of changed) {
      const old = this.inForce.get(id);
      const rules = next.get(id);
      // A hunt new to this server has no window in progress: it is in force at once.
      const w = windowMs(old ?? rules!);
      this.pending.set(id, { at: old ? Math.floor(t / w) * w + w : t, rules });
    }
    this.nextAt = Math.min(...[...this.pending.values()].map((p) => p.at));
    this.due(t);
  }

  /** Applies the switches due at event time `t`. */
  due(t: number): void {
    if (t < this.nextAt) return;
    let next = Infinity;
    for (const [id, p] of this.pending) {
      if (p.at <= t) this.apply(id, p.rules);
      else next = Math.min(next, p.at);
    }
    this.nextAt = next;
    this.triggers.setIndex(new TreasureIndex([...this.inForce.values()]));
  }

  /** A start issued here: its hunt's new rules are in force from now. */
  started(hunt: string, t: number): void {
    const p = this.pending.get(hunt);
    if (!p) return;
    p.at = t;
    this.nextAt = Math.min(this.nextAt, t);
    this.due(t);
  }

  private apply(id: string, rules: HuntRules | undefined): void {
    this.pending.delete(id);
    if (rules) this.inForce.set(id, rules);
    else this.inForce.delete(id);
  }
}
