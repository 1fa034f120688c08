/**
 * The docs point at things that exist: every relative link in README.md and docs/*.md
 * resolves to a file or folder of the repository, and every repository path the text names
 * in backticks (`gateway/server.ts`) exists. Files move; this says which page to update.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const PAGES = ['README.md', 'protocol/SPEC.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Relative link targets (`](target)`), without their #anchor. */
function links(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/i.test(t) && !t.startsWith('#')).map((t) => t.replace(/#.*$/, ''));
}

/** Backticked repository paths: a folder and a file name with an extension we keep in the repo. */
function namedPaths(text: string): string[] {
  return [...text.matchAll(/`([a-z][\w.-]*(?:\/[\w.-]+)+\.(?:ts|lua|json|md|ndjson))`/g)].map((m) => m[1]!);
}

describe('the docs', () => {
  it('link only to files and folders in the repository', () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      const text = readFileSync(join(REPO, page), 'utf8');
      for (const target of links(text)) {
        const path = normalize(join(dirname(page), target));
        if (path.startsWith('..') || !existsSync(join(REPO, path))) broken.push(`${page}: link to ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('name only files that exist', () => {
    const missing: string[] = [];
    for (const page of PAGES) {
      for (const path of namedPaths(readFileSync(join(REPO, page), 'utf8'))) {
        if (!existsSync(join(REPO, path))) missing.push(`${page}: ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('find links and paths the way the checks above rely on', () => {
    expect(links('see [a](docs/a.md#x), [b](https://x.y), [c](#top)')).toEqual(['docs/a.md']);
    expect(namedPaths('`gateway/server.ts` and `worker/lua/commit-window.lua`, not `npm test` or `x.ts`')).toEqual(['gateway/server.ts', 'worker/lua/commit-window.lua']);
  });
});
