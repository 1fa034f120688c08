/** Reading a rules file (plugin/rules-file.ts): problems located at file:line:col, a missing file named. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RulesError } from '../../protocol/index.js';
import { checkRulesFile, loadRulesFile } from '../../plugin/rules-file.js';

describe('rules file', () => {
  it('loads the shipped sample hunt', () => {
    expect(loadRulesFile(new URL('../../hunts/spring.json', import.meta.url).pathname).id).toBe('spring');
  });

  it('throws a RulesError naming the file for a missing file', () => {
    expect(() => loadRulesFile('/nonexistent/hunt.json')).toThrow(RulesError);
    expect(() => loadRulesFile('/nonexistent/hunt.json')).toThrow(/\/nonexistent\/hunt\.json: \/: cannot read: ENOENT/);
  });

  it('locates a problem at file:line:col', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cairn-rules-')), 'bad.json');
    writeFileSync(file, '{\n  "id": "bad",\n  "nmae": "B"\n}\n');
    expect(() => loadRulesFile(file)).toThrow(`${file}:3:3: /nmae: \`nmae\`: unknown key, did you mean \`name\`?`);
    expect(checkRulesFile(file).rules).toBeUndefined();
  });
});
