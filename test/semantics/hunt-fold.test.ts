/** The fold's handling of rules in force: reloads from the next window, mismatches reported. */
import { describe, expect, it } from 'vitest';
import { rulesHash, type HuntEvent, type HuntRules } from '../../protocol/index.js';
import { emptyHuntState, foldWindow } from '../../hunt/hunt-fold.js';
import { tinyHunt } from '../support/trace-builder.js';

let n = 0;
const start = (t: number, rules: HuntRules): HuntEvent => ({ k: 'start', e: 1, n: ++n, t, p: 'admin', hunt: rules.id, rules, hash: rulesHash(rules), server: 's1' });
const rules = (t: number, r: HuntRules, server: string, reload = false): HuntEvent => ({ k: 'rules', e: 1, n: ++n, t, hunt: r.id, rules: r, hash: rulesHash(r), server, ...(reload ? { reload: 1 as const } : {}) });
const enter = (t: number, p: string): HuntEvent => ({ k: 'enter', e: 1, n: ++n, t, p, hunt: 'tiny', tr: 'oak', region: 'r1', at: [0, 64, 0], server: 's1' });

const v1 = tinyHunt();
const v2 = tinyHunt({ treasures: [{ ...v1.treasures[0]!, prizes: [{ ranks: '1-100', item: 'diamond', count: 9 }] }] });

describe('hunt fold: rules in force', () => {
  it('a reload changes prizes from the next window on, not the current one', () => {
    const state = emptyHuntState('tiny');
    const w1 = foldWindow(state, [start(0, v1), rules(100, v2, 's1', true), enter(200, 'a')]);
    expect(w1.map((p) => p.item)).toEqual(['gold']);
    const w2 = foldWindow(state, [enter(10_100, 'b')]);
    expect(w2.map((p) => `${p.reason} ${p.item}`)).toEqual(['treasure:oak:2 diamond']);
    expect(state.hash).toBe(rulesHash(v2));
  });

  it('reports a server whose loaded rules differ from the rules in force, and keeps the rules in force', () => {
    const state = emptyHuntState('tiny');
    foldWindow(state, [start(0, v1), rules(100, v2, 's2'), rules(150, v1, 's3'), enter(200, 'a')]);
    expect(state.mismatched).toEqual({ s2: rulesHash(v2) });
    const w2 = foldWindow(state, [enter(10_100, 'b')]);
    expect(w2.map((p) => p.item)).toEqual(['bread']);
  });
});
