import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode } from '../../protocol/index.js';

describe('error catalogue', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const spec = readFileSync(new URL('../../protocol/SPEC.md', import.meta.url), 'utf8');

  it('documents every error code in docs/errors.md', () => {
    for (const code of Object.values(ErrorCode)) expect(doc, code).toContain(`\`${code}\``);
  });

  it('never reuses a code', () => {
    expect(new Set(Object.values(ErrorCode)).size).toBe(Object.values(ErrorCode).length);
    expect(new Set(Object.values(CloseCode)).size).toBe(Object.values(CloseCode).length);
  });

  it('keeps application close codes in 4000-4999 and documents them in SPEC.md', () => {
    for (const [name, code] of Object.entries(CloseCode)) {
      if (code >= 4000) expect(code, name).toBeLessThan(5000);
      expect(spec, name).toContain(`| ${code} |`);
    }
  });
});
