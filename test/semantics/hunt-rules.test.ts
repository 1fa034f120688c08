/**
 * One test per hunt-semantics rule (DESIGN.md "Hunt semantics"), on the plugin's trigger
 * code and the worker's fold. test/integration/replay-rules.test.ts runs the same traces
 * through the whole pipeline.
 */
import { describe, expect, it } from 'vitest';
import { referencePrizes, TraceBuilder, tinyHunt } from '../support/trace-builder.js';
import { ruleCases } from './rule-cases.js';

describe('hunt semantics', () => {
  for (const c of ruleCases) {
    it(c.name, () => {
      const got = referencePrizes(c.hunts, c.trace.lines).map((p) => `${p.reason} ${p.player}@${p.server}`);
      expect(got).toEqual(c.expected);
    });
  }

  it('gives the same prizes whatever order same-time lines of different servers arrive in', () => {
    const a = new TraceBuilder().join(0, 's1', 'admin', ['cairn.admin']).command(1, 's1', 'admin', 'hunt start tiny');
    a.join(0, 's2', 'x').join(0, 's3', 'y').move(500, 's3', 'y', 'r1', [0, 64, 0]).move(500, 's2', 'x', 'r1', [0, 64, 0]);
    const b = new TraceBuilder().join(0, 's1', 'admin', ['cairn.admin']).command(1, 's1', 'admin', 'hunt start tiny');
    b.join(0, 's3', 'y').join(0, 's2', 'x').move(500, 's2', 'x', 'r1', [0, 64, 0]).move(500, 's3', 'y', 'r1', [0, 64, 0]);
    expect(referencePrizes([tinyHunt()], a.lines)).toEqual(referencePrizes([tinyHunt()], b.lines));
  });
});
