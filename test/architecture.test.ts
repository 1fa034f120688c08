/**
 * The import rule of docs/architecture.md, checked on every source file: each top-level
 * folder imports only the folders below it, protocol/ does no I/O, gateway/ and worker/
 * never import each other, and no two folders import each other in a circle.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkImports, folderCycles, formatViolation, importsOf, ruleBroken, sourceFiles, type ImportEdge } from './architecture/import-rule.js';
import { scanImports } from './architecture/import-scan.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

describe('the import rule on the source tree', () => {
  const { violations, unusedExceptions, edges } = checkImports(REPO);

  it('sees every source folder and its imports', () => {
    const files = sourceFiles(REPO);
    for (const root of ['protocol/', 'common/', 'plugin/', 'plugin/hosts/', 'gateway/', 'worker/', 'hunt/', 'backend/', 'cli/', 'hosts/flying-squid/']) {
      expect(files.some((f) => f.startsWith(root)), root).toBe(true);
    }
    // cli/main.ts loads its commands with import(): dynamic imports count too.
    expect(importsOf(REPO, 'cli/main.ts').map((e) => e.specifier)).toContain('./replay-command.js');
  });

  it('has no import that runs against the rule', () => {
    expect(violations.map(formatViolation).join('\n')).toBe('');
  });

  it('has no exception left that the tree no longer needs', () => {
    expect(unusedExceptions.map((f) => `${f}: exception no longer needed, remove it from EXCEPTIONS`).join('\n')).toBe('');
  });

  it('has no circular imports between folders', () => {
    expect(folderCycles(edges).map((c) => c.join(' <-> ')).join('\n')).toBe('');
  });
});

describe('the rule itself', () => {
  const edge = (file: string, specifier: string, target?: string): ImportEdge => ({ file, specifier, line: 1, target });

  it.each([
    ['worker/worker.ts', '../gateway/server.js', 'gateway/server.js', 'gateway and worker never import each other'],
    ['gateway/queries.ts', '../worker/worker.js', 'worker/worker.js', 'gateway and worker never import each other'],
    ['protocol/codec.ts', '../common/log.js', 'common/log.js', 'protocol/ may import nothing of ours'],
    ['common/log.ts', '../protocol/index.js', 'protocol/index.js', 'common/ may import nothing of ours'],
    ['plugin/link.ts', '../backend/config.js', 'backend/config.js', 'plugin/ may import protocol/, common/ only'],
    ['backend/config.ts', '../hunt/hunt-fold.js', 'hunt/hunt-fold.js', 'backend/ may import protocol/, common/ only'],
    ['hunt/hunt-store.ts', '../worker/scripts.js', 'worker/scripts.js', 'hunt/ may import protocol/, common/, backend/ only'],
    ['hosts/flying-squid/adapter.ts', '../../backend/config.js', 'backend/config.js', 'hosts/ may import plugin/, protocol/, common/ only'],
    ['gateway/server.ts', '../cli/stack.js', 'cli/stack.js', 'gateway/ may import backend/, hunt/, protocol/, common/ only'],
    ['worker/worker.ts', '../test/support/redis.js', 'test/support/redis.js', 'source imports only source folders, not test/'],
  ])('%s importing %s breaks "%s"', (file, specifier, target, rule) => {
    expect(ruleBroken(edge(file, specifier, target))).toBe(rule);
  });

  it.each(['node:fs', 'fs', 'node:fs/promises', 'node:net', 'node:http', 'node:child_process', 'pino', 'ioredis', 'ws', '@aws-sdk/client-kinesis'])(
    'protocol/ may not import %s',
    (specifier) => {
      expect(ruleBroken(edge('protocol/codec.ts', specifier))).toBe('protocol/ does no I/O and no logging');
    },
  );

  it('allows what the rule allows', () => {
    expect(ruleBroken(edge('protocol/codec.ts', 'msgpackr'))).toBeUndefined();
    expect(ruleBroken(edge('protocol/rules.ts', 'node:crypto'))).toBeUndefined();
    expect(ruleBroken(edge('common/log.ts', 'pino'))).toBeUndefined();
    expect(ruleBroken(edge('gateway/server.ts', '../hunt/hunt-store.js', 'hunt/hunt-store.js'))).toBeUndefined();
    expect(ruleBroken(edge('hunt/hunt-store.ts', '../backend/redis/keys.js', 'backend/redis/keys.js'))).toBeUndefined();
    expect(ruleBroken(edge('plugin/hosts/trace.ts', '../host.js', 'plugin/host.js'))).toBeUndefined();
    expect(ruleBroken(edge('cli/stack.ts', '../worker/worker.js', 'worker/worker.js'))).toBeUndefined();
    expect(ruleBroken(edge('cli/stack.ts', '../gateway/server.js', 'gateway/server.js'))).toBeUndefined();
    expect(ruleBroken(edge('hosts/flying-squid/serve.ts', '../../cli/stack.js', 'cli/stack.js'))).toBeUndefined();
  });

  it('prints a violation as `file: imports X (rule)`', () => {
    expect(formatViolation({ file: 'worker/worker.ts', specifier: '../gateway/server.js', line: 3, rule: 'gateway and worker never import each other' })).toBe(
      'worker/worker.ts: imports ../gateway/server.js (gateway and worker never import each other)',
    );
  });

  it('finds a circle between folders, and none in a tree that points one way', () => {
    const e = (from: string, to: string) => edge(`${from}/a.ts`, `../${to}/b.js`, `${to}/b.js`);
    expect(folderCycles([e('gateway', 'backend'), e('backend', 'hunt'), e('hunt', 'backend')])).toEqual([['backend', 'hunt']]);
    expect(folderCycles([e('gateway', 'backend'), e('worker', 'backend'), e('backend', 'protocol'), e('hunt', 'protocol')])).toEqual([]);
  });
});

describe('the import scanner', () => {
  const specs = (src: string) => scanImports(src).map((r) => r.specifier);

  it('finds every form of import, type-only ones included', () => {
    const src = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      'import * as c from "c";',
      "import d, { e } from 'node:fs';",
      "export { f } from './f.js';",
      "export * from './g.js';",
      "export type { H } from './h.js';",
      "import './side-effect.js';",
      "const m = await import('./lazy.js');",
      "const r = require('./req.cjs');",
      "import x = require('./eq.js');",
      'import {',
      '  multi,',
      '  line,',
      "} from './multi.js';",
    ].join('\n');
    expect(specs(src)).toEqual(['./a.js', '../b.js', 'c', 'node:fs', './f.js', './g.js', './h.js', './side-effect.js', './lazy.js', './req.cjs', './eq.js', './multi.js']);
    expect(scanImports(src).at(-1)!.line).toBe(15);
  });

  it('ignores imports inside comments, strings, templates and regular expressions', () => {
    const src = [
      "// import { a } from './commented.js';",
      "/* export * from './block.js'; */",
      "const s = \"import x from './in-string.js'\";",
      "const t = `import y from './in-template.js' ${\"from './in-expr-string.js'\"}`;",
      "const re = /from '.\\/in-regex.js'/;",
      "const q = a / b; const arr = Array.from('abc'); const o = { from: 'nope' };",
      "log.info('from ./x'); const k = x.import;",
      "import { real } from './real.js';",
    ].join('\n');
    expect(specs(src)).toEqual(['./real.js']);
  });
});
