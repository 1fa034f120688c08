/** Every hunt-semantics rule case (test/semantics/rule-cases.ts) through the whole pipeline. */
import { describe, expect, it } from 'vitest';
import { replay } from '../../cli/replay.js';
import { testStack } from '../support/stack.js';
import { ruleCases } from '../semantics/rule-cases.js';

describe('hunt semantics through the whole pipeline', () => {
  for (const c of ruleCases) {
    it(c.name, async () => {
      const stack = await testStack();
      try {
        const { prizes } = await replay({ hunts: c.hunts, traceFile: c.trace.writeTo(), gatewayUrl: stack.gateway!.url, token: 'cairn-dev-token', graceMs: 0 });
        expect(prizes.map((p) => `${p.reason} ${p.player}@${p.server}`)).toEqual(c.expected);
      } finally {
        await stack.cleanup();
      }
    });
  }
});
