/**
 * Validating hunt rules text: every error at once, each with file, line, column, JSON
 * path and a message that says how to fix it. Reading the file is plugin/rules-file.ts.
 */
import { createHash } from 'node:crypto';
import { Ajv, type ErrorObject } from 'ajv';
import { findNodeAtLocation, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import type { RulesIssue } from './errors.js';
import { DEFAULT_SPEED_WINDOW_MS, DEFAULT_WINDOW_MS, MAX_SPEED_WINDOW_MS, MIN_WINDOW_MS } from './limits.js';
import { HuntRulesSchema, type HuntRules, type PrizeRule } from './rules-schema.js';

export { HuntRulesSchema, type HuntRules, type PrizeRule, type Treasure } from './rules-schema.js';

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false, verbose: true });
const validateSchema = ajv.compile(HuntRulesSchema);

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "60s" -> 60000. Throws on anything else. */
export function parseDuration(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration like "500ms", "60s", "5m" or "1h"`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
}

/** "2-4" -> [2, 4]; "1" -> [1, 1]. */
export function parseRanks(text: string): [number, number] {
  const [a, b] = text.split('-');
  const lo = Number(a);
  const hi = b === undefined ? lo : Number(b);
  return [lo, hi];
}

/**
 * Each prize list's ranges, parsed once per list object: the worker asks for every find
 * (in the window-close benchmark, a window of 230 k finds spent a third of its fold parsing ranks).
 */
const rankTables = new WeakMap<readonly PrizeRule[], { lo: number; hi: number; rule: PrizeRule }[]>();

/** The prize for rank r (the first whose range holds it), or undefined when no range does. */
export function prizeForRank(prizes: readonly PrizeRule[], rank: number): PrizeRule | undefined {
  let table = rankTables.get(prizes);
  if (!table) {
    table = prizes.map((rule) => {
      const [lo, hi] = parseRanks(rule.ranks);
      return { lo, hi, rule };
    });
    rankTables.set(prizes, table);
  }
  for (const x of table) if (rank >= x.lo && rank <= x.hi) return x.rule;
  return undefined;
}

export function windowMs(rules: HuntRules): number {
  return rules.window === undefined ? DEFAULT_WINDOW_MS : parseDuration(rules.window);
}

/** The window `maxSpeed` is measured over, in ms. */
export function speedWindowMs(rules: HuntRules): number {
  return rules.speedWindowMs ?? DEFAULT_SPEED_WINDOW_MS;
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) if (k !== '$schema') out[k] = canonical((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** Content hash of the rules (key order and `$schema` do not matter). */
export function rulesHash(rules: HuntRules): string {
  return createHash('sha256').update(JSON.stringify(canonical(rules))).digest('hex').slice(0, 16);
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

function pointerSegments(path: string): (string | number)[] {
  if (!path) return [];
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));
}

function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

function schemaMessage(e: ErrorObject): { path: string; message: string } {
  if (e.keyword === 'additionalProperties') {
    const key = String((e.params as { additionalProperty: string }).additionalProperty);
    const props = Object.keys(((e.parentSchema as { properties?: object })?.properties ?? {}) as object);
    const best = props
      .map((p) => ({ p, d: levenshtein(key.toLowerCase(), p.toLowerCase()) }))
      .sort((x, y) => x.d - y.d)[0];
    const hint = best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? `, did you mean \`${best.p}\`?` : ` (known keys: ${props.join(', ')})`;
    return { path: `${e.instancePath}/${key}`, message: `\`${key}\`: unknown key${hint}` };
  }
  if (e.keyword === 'required') {
    const key = String((e.params as { missingProperty: string }).missingProperty);
    return { path: e.instancePath, message: `missing required key \`${key}\`` };
  }
  if (e.keyword === 'pattern' && e.instancePath.endsWith('/ranks')) {
    return { path: e.instancePath, message: 'must be a rank like "1" or a range like "2-4"' };
  }
  if (e.keyword === 'pattern' && e.instancePath === '/window') {
    return { path: e.instancePath, message: 'must be a duration like "500ms", "60s", "5m" or "1h"' };
  }
  if (e.instancePath === '/speedWindowMs' && ['type', 'minimum', 'maximum'].includes(e.keyword)) {
    return { path: e.instancePath, message: `must be a whole number of milliseconds from 1 to ${MAX_SPEED_WINDOW_MS} (default ${DEFAULT_SPEED_WINDOW_MS})` };
  }
  return { path: e.instancePath, message: e.message ?? 'is not valid' };
}

const RANKS_RE = /^[1-9][0-9]*(-[1-9][0-9]*)?$/;
const DURATION_RE = /^[0-9]+(\.[0-9]+)?(ms|s|m|h)$/;
const rankSpan = (lo: number, hi: number) => (lo === hi ? `rank ${lo} gets` : `ranks ${lo}-${hi} get`);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/**
 * What the schema cannot express. Defensive about shapes, so it also runs on a document
 * that failed the schema: a modder sees every problem in one pass, not the next one
 * after each fix.
 */
function semanticIssues(doc: unknown): { path: string; message: string; severity: 'error' | 'warning' }[] {
  const out: { path: string; message: string; severity: 'error' | 'warning' }[] = [];
  const rules = obj(doc);
  const treasures = arr(rules.treasures).map(obj);
  const seen = new Map<string, number>();
  treasures.forEach((t, i) => {
    if (typeof t.id !== 'string') return;
    const first = seen.get(t.id);
    if (first !== undefined) out.push({ path: `/treasures/${i}/id`, message: `duplicate treasure id "${t.id}" (also /treasures/${first}/id)`, severity: 'error' });
    else seen.set(t.id, i);
  });
  const checkPrizes = (list: unknown, base: string) => {
    const prizes = arr(list).map(obj);
    const ranges = prizes.flatMap((p, i) => (typeof p.ranks === 'string' && RANKS_RE.test(p.ranks) ? [{ i, text: p.ranks, r: parseRanks(p.ranks) }] : []));
    for (const { i, text, r } of ranges) {
      if (r[1] < r[0]) out.push({ path: `${base}/${i}/ranks`, message: `range "${text}" ends before it starts`, severity: 'error' });
    }
    const sorted = ranges.filter(({ r }) => r[1] >= r[0]).sort((a, b) => a.r[0] - b.r[0]);
    for (let k = 1; k < sorted.length; k++) {
      const a = sorted[k - 1]!;
      const b = sorted[k]!;
      if (b.r[0] <= a.r[1]) {
        out.push({ path: `${base}/${b.i}/ranks`, message: `ranks "${b.text}" overlap "${a.text}" (${base}/${a.i}/ranks)`, severity: 'error' });
      } else if (b.r[0] > a.r[1] + 1) {
        out.push({ path: `${base}/${b.i}/ranks`, message: `${rankSpan(a.r[1] + 1, b.r[0] - 1)} no prize; is that intended?`, severity: 'warning' });
      }
    }
    if (sorted[0] && sorted[0].r[0] > 1) {
      out.push({ path: `${base}/${sorted[0].i}/ranks`, message: `${rankSpan(1, sorted[0].r[0] - 1)} no prize; is that intended?`, severity: 'warning' });
    }
  };
  treasures.forEach((t, i) => checkPrizes(t.prizes, `/treasures/${i}/prizes`));
  if (rules.completion !== undefined) checkPrizes(obj(rules.completion).prizes, '/completion/prizes');
  if (typeof rules.window === 'string' && DURATION_RE.test(rules.window) && parseDuration(rules.window) < MIN_WINDOW_MS) {
    out.push({ path: '/window', message: `must be at least ${MIN_WINDOW_MS / 1000}s`, severity: 'error' });
  }
  if (rules.speedWindowMs !== undefined && rules.maxSpeed === undefined) {
    out.push({ path: '/speedWindowMs', message: 'has no effect without `maxSpeed`', severity: 'warning' });
  }
  const s = obj(rules.schedule);
  const start = typeof s.start === 'string' ? Date.parse(s.start) : undefined;
  const end = typeof s.end === 'string' ? Date.parse(s.end) : undefined;
  if (start !== undefined && Number.isNaN(start)) out.push({ path: '/schedule/start', message: 'must be an ISO 8601 time like "2026-12-01T18:00:00Z"', severity: 'error' });
  if (end !== undefined && Number.isNaN(end)) out.push({ path: '/schedule/end', message: 'must be an ISO 8601 time like "2026-12-01T19:00:00Z"', severity: 'error' });
  if (start !== undefined && end !== undefined && !Number.isNaN(start) && !Number.isNaN(end) && end <= start) {
    out.push({ path: '/schedule/end', message: 'must be after /schedule/start', severity: 'error' });
  }
  return out;
}

export interface RulesCheck {
  rules?: HuntRules;
  issues: RulesIssue[];
}

/** Validates a rules document, reporting every problem with its position in `text`. */
export function checkRulesText(text: string, file: string): RulesCheck {
  const parseErrors: ParseError[] = [];
  const tree = parseTree(text, parseErrors, { allowTrailingComma: false, disallowComments: true });
  const issues: RulesIssue[] = [];
  const at = (path: string, message: string, severity: 'error' | 'warning', offset?: number): RulesIssue => {
    let off = offset;
    if (off === undefined && tree) {
      const segs = pointerSegments(path);
      let node: Node | undefined = findNodeAtLocation(tree, segs);
      // Unknown keys: point at the key itself, not its value.
      if (node?.parent?.type === 'property' && node.parent.children?.[0]) node = node.parent.children[0];
      while (!node && segs.length) node = findNodeAtLocation(tree, segs.splice(-1, 1) && segs);
      off = node?.offset ?? 0;
    }
    return { file, path, message, severity, ...lineCol(text, off ?? 0) };
  };
  if (parseErrors.length || !tree) {
    for (const e of parseErrors) issues.push(at('', `invalid JSON: ${printParseErrorCode(e.error)}`, 'error', e.offset));
    if (!parseErrors.length) issues.push(at('', 'file is empty', 'error', 0));
    return { issues };
  }
  const doc: unknown = JSON.parse(text);
  const valid = validateSchema(doc);
  if (!valid) {
    const found = (validateSchema.errors ?? []).map(schemaMessage);
    // "missing `radius`" says nothing new next to "`raduis`: unknown key, did you mean `radius`?".
    const suggested = new Set(found.flatMap(({ path, message }) => {
      const m = /did you mean `([^`]+)`\?$/.exec(message);
      return m ? [`${path.slice(0, path.lastIndexOf('/'))}\0${m[1]}`] : [];
    }));
    const seen = new Set<string>();
    for (const { path, message } of found) {
      const missing = /^missing required key `([^`]+)`$/.exec(message);
      if (missing && suggested.has(`${path}\0${missing[1]}`)) continue;
      const key = `${path}\0${message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push(at(path, message, 'error'));
    }
  }
  for (const s of semanticIssues(doc)) issues.push(at(s.path, s.message, s.severity));
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return valid && !issues.some((i) => i.severity === 'error') ? { rules: doc as HuntRules, issues } : { issues };
}
