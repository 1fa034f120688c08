/**
 * A tiny hand-made hunt for tests that need to know exactly which event does what.
 */
import { rulesHash, type DiscreteEvent, type HuntRules } from '../../../protocol/index.js';
import { RECORD_FORMAT_VERSION, type EventRecord } from '../../../backend/kinesis/record-format.js';

export const T0 = 1_800_000_000_000; // aligned to every window length used here
export const SMALL = 'tiny';

export function smallRules(window = '10s'): HuntRules {
  return {
    id: SMALL,
    name: 'Tiny',
    window,
    treasures: [
      {
        id: 'rock', region: 'r', at: [0, 0, 0], radius: 2,
        prizes: [{ ranks: '1', item: 'gold', count: 3 }, { ranks: '2-3', item: 'silver', count: 1 }],
      },
    ],
  };
}

/** Builds a server's discrete events with increasing counters. */
export class EventMaker {
  private n = 0;
  constructor(readonly server: string, readonly epoch = 1, readonly rules: HuntRules = smallRules()) {}
  rulesEv(t: number): DiscreteEvent {
    return { k: 'rules', e: this.epoch, n: ++this.n, t, hunt: this.rules.id, rules: this.rules, hash: rulesHash(this.rules) };
  }
  start(t: number, p = 'admin'): DiscreteEvent {
    return { k: 'start', e: this.epoch, n: ++this.n, t, p, hunt: this.rules.id, rules: this.rules, hash: rulesHash(this.rules) };
  }
  stop(t: number, p = 'admin'): DiscreteEvent {
    return { k: 'stop', e: this.epoch, n: ++this.n, t, p, hunt: this.rules.id };
  }
  enter(t: number, p: string): DiscreteEvent {
    return { k: 'enter', e: this.epoch, n: ++this.n, t, p, hunt: this.rules.id, tr: 'rock', region: 'r', at: [0, 0, 1] };
  }
  join(t: number, p: string, i: number): DiscreteEvent {
    return { k: 'join', e: this.epoch, n: ++this.n, t, p, i };
  }
}

export function rec(s: string, q: number, wm: number, ev: EventRecord['ev'], pt = 0, np = 1, e = 1): EventRecord {
  return { v: RECORD_FORMAT_VERSION, s, e, q, pt, np, wm, ev };
}
