/**
 * The import rule between Cairn's top-level folders (docs/architecture.md explains it),
 * and the check that lists every import running against it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { scanImports } from './import-scan.js';

export type Role = 'protocol' | 'common' | 'plugin' | 'hunt' | 'backend' | 'gateway' | 'worker' | 'cli' | 'hosts';

/** Which of our folders each folder may import (besides itself). `'*'`: any. */
export const MAY_IMPORT: Record<Role, readonly Role[] | '*'> = {
  protocol: [],
  common: [],
  plugin: ['protocol', 'common'],
  hunt: ['protocol', 'common', 'backend'],
  backend: ['protocol', 'common'],
  gateway: ['backend', 'hunt', 'protocol', 'common'],
  worker: ['backend', 'hunt', 'protocol', 'common'],
  hosts: ['plugin', 'protocol', 'common'],
  cli: '*',
};

/**
 * Files that compose plugin and back end in one process, as `cli/` does: they follow
 * cli's rule, whatever folder they sit in. A host package's `serve.ts`/`example-server.ts` run a game server
 * with the whole back end in it (see README "Worked example: flying-squid"), and its bench/
 * measures that server.
 */
export const COMPOSITION_ROOTS: readonly RegExp[] = [/^hosts\/[^/]+\/(serve|example-server)\.ts$/, /^hosts\/[^/]+\/bench\//];

/**
 * Packages and Node modules protocol/ may not import: anything that does I/O or logs.
 * protocol/ is the wire contract both sides run, and must stay a pure function of bytes.
 */
export const PROTOCOL_FORBIDDEN: readonly RegExp[] = [
  /^(node:)?(fs|fs\/promises|net|tls|http|https|http2|dgram|dns|child_process|cluster|worker_threads|readline)$/,
  /^pino(\/|$)/,
  /^ioredis(\/|$)/,
  /^ws(\/|$)/,
  /^@aws-sdk\//,
  /^@smithy\//,
  /^kinesalite(\/|$)/,
  /^prom-client(\/|$)/,
];

/**
 * Known exceptions, each `file -> specifier` with the reason it is still there. The test
 * fails when an exception is no longer needed, so this list only shrinks.
 */
export const EXCEPTIONS: ReadonlyMap<string, { specifier: string; why: string }> = new Map([]);

export const SOURCE_ROOTS = ['protocol', 'common', 'plugin', 'hunt', 'backend', 'gateway', 'worker', 'cli', 'hosts'] as const;

export interface Violation {
  file: string;
  specifier: string;
  line: number;
  rule: string;
}

export interface ImportEdge {
  file: string;
  specifier: string;
  line: number;
  /** repo-relative target of a relative import, else undefined (a package) */
  target: string | undefined;
}

const toPosix = (p: string) => p.split(sep).join('/');

/** The role a repo-relative path belongs to, or undefined outside the source folders. */
export function roleOf(path: string): Role | undefined {
  const top = path.split('/')[0];
  return (SOURCE_ROOTS as readonly string[]).includes(top ?? '') ? (top as Role) : undefined;
}

/** Source files under the roots: .ts files, minus host packages' own tests and tooling. */
export function sourceFiles(repo: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(repo, dir))) {
      const rel = `${dir}/${name}`;
      if (name === 'node_modules' || /^hosts\/[^/]+\/test$/.test(rel)) continue;
      if (statSync(join(repo, rel)).isDirectory()) walk(rel);
      else if (rel.endsWith('.ts') && !/^hosts\/[^/]+\/vitest\.config\.ts$/.test(rel)) out.push(rel);
    }
  };
  for (const root of SOURCE_ROOTS) walk(root);
  return out.sort();
}

export function importsOf(repo: string, file: string): ImportEdge[] {
  return scanImports(readFileSync(join(repo, file), 'utf8')).map(({ specifier, line }) => ({
    file,
    specifier,
    line,
    target: specifier.startsWith('.') ? toPosix(normalize(join(dirname(file), specifier))) : undefined,
  }));
}

/** The rule an import breaks, or undefined when it is allowed. */
export function ruleBroken(edge: ImportEdge): string | undefined {
  const from = roleOf(edge.file);
  if (!from) return undefined;
  const composes = from === 'cli' || COMPOSITION_ROOTS.some((r) => r.test(edge.file));
  if (edge.target === undefined) {
    if (from === 'protocol' && PROTOCOL_FORBIDDEN.some((r) => r.test(edge.specifier))) return 'protocol/ does no I/O and no logging';
    return undefined;
  }
  if (edge.target.startsWith('..')) return 'imports outside the repository';
  const to = roleOf(edge.target);
  if (!to) return `source imports only source folders, not ${edge.target.split('/')[0]}/`;
  if (to === from || composes) return undefined;
  if ((from === 'gateway' && to === 'worker') || (from === 'worker' && to === 'gateway')) return 'gateway and worker never import each other';
  const allowed = MAY_IMPORT[from];
  if (allowed === '*' || allowed.includes(to)) return undefined;
  return `${from}/ may import ${allowed.length ? allowed.map((r) => `${r}/`).join(', ') : 'nothing of ours'}${allowed.length ? ' only' : ''}`;
}

/**
 * Every import in the tree that runs against the rule, the exceptions that are no longer
 * needed, and the edges that are not exceptions (for the cycle check).
 */
export function checkImports(repo: string): { violations: Violation[]; unusedExceptions: string[]; edges: ImportEdge[] } {
  const used = new Set<string>();
  const violations: Violation[] = [];
  const edges: ImportEdge[] = [];
  for (const e of sourceFiles(repo).flatMap((f) => importsOf(repo, f))) {
    const rule = ruleBroken(e);
    const ex = EXCEPTIONS.get(e.file);
    if (rule && ex && ex.specifier === e.specifier) {
      used.add(e.file);
      continue;
    }
    edges.push(e);
    if (rule) violations.push({ file: e.file, specifier: e.specifier, line: e.line, rule });
  }
  const unusedExceptions = [...EXCEPTIONS.keys()].filter((f) => !used.has(f));
  return { violations, unusedExceptions, edges };
}

/** Cycles in the folder graph (one entry per strongly connected group of two or more folders, or a folder through a composition root). */
export function folderCycles(edges: readonly ImportEdge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const e of edges) {
    const from = roleOf(e.file);
    const to = e.target === undefined ? undefined : roleOf(e.target);
    if (!from || !to || from === to) continue;
    let s = graph.get(from);
    if (!s) graph.set(from, (s = new Set()));
    s.add(to);
  }
  // Tarjan's strongly connected components.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** `file: imports X (rule)`, the line the test prints per violation. */
export const formatViolation = (v: Violation) => `${v.file}: imports ${v.specifier} (${v.rule})`;
