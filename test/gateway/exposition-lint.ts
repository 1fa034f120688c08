/**
 * A checker for the Prometheus text exposition format (version 0.0.4) and the naming
 * rules `promtool check metrics` applies, for machines without promtool. The format:
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format; the
 * naming rules are those of promlint
 * (https://github.com/prometheus/client_golang/tree/main/prometheus/testutil/promlint):
 * help text, base units, `_total` on counters only, `_bucket`/`_sum`/`_count`/`le`/
 * `quantile` reserved for histograms and summaries, no type in the name, no colons, no
 * camelCase, no abbreviated units.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  line: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | undefined;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Units with a base unit (promlint's list, plus the time units people reach for). */
const UNITS: Record<string, string> = {
  amperes: 'amperes', bytes: 'bytes', celsius: 'celsius', grams: 'grams', joules: 'joules', kelvin: 'kelvin',
  meters: 'meters', metres: 'metres', seconds: 'seconds', volts: 'volts',
  minutes: 'seconds', hours: 'seconds', days: 'seconds', weeks: 'seconds', bits: 'bytes',
};
const UNIT_PREFIXES = ['pico', 'nano', 'micro', 'milli', 'centi', 'deci', 'deca', 'hecto', 'kilo', 'kibi', 'mega', 'mibi', 'giga', 'gibi', 'tera', 'tebi', 'peta', 'pebi'];
const UNIT_ABBREVIATIONS = ['s', 'ms', 'us', 'ns', 'sec', 'secs', 'min', 'mins', 'hr', 'hrs', 'b', 'kb', 'mb', 'gb', 'tb', 'pb', 'kib', 'mib', 'gib'];

export class ExpositionError extends Error {}

/** Parses the text format; throws an ExpositionError naming the line on anything malformed. */
export function parseExposition(text: string): Family[] {
  const families = new Map<string, Family>();
  const order: Family[] = [];
  const closed = new Set<string>();
  const seen = new Set<string>();
  const seenType = new Set<string>();
  let current: Family | undefined;
  const fail = (line: number, msg: string): never => {
    throw new ExpositionError(`line ${line}: ${msg}`);
  };
  const family = (name: string, line: number): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, f);
      order.push(f);
    } else if (closed.has(name)) fail(line, `metric family ${name} appears again after another family (its lines must be together)`);
    if (current && current !== f) closed.add(current.name);
    current = f;
    return f;
  };
  const lines = text.split('\n');
  if (lines.at(-1) !== '') fail(lines.length, 'the exposition must end with a newline');
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return; // any other comment
      const [, kw, name, rest = ''] = m;
      if (!METRIC_NAME.test(name!)) fail(n, `invalid metric name ${JSON.stringify(name)}`);
      const f = family(name!, n);
      if (kw === 'HELP') {
        if (f.help !== undefined) fail(n, `second HELP line for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) fail(n, `invalid escape in HELP of ${name}`);
        f.help = rest;
      } else {
        const type = rest.trim() as MetricType;
        if (!TYPES.has(type)) fail(n, `unknown metric type ${JSON.stringify(rest.trim())} for ${name}`);
        if (f.samples.length) fail(n, `TYPE line for ${name} after its samples`);
        if (f.type !== 'untyped' || seenType.has(name!)) fail(n, `second TYPE line for ${name}`);
        seenType.add(name!);
        f.type = type;
      }
      return;
    }
    const s = parseSample(raw, n, fail);
    const key = `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
    if (seen.has(key)) fail(n, `duplicate series ${raw.split(' ')[0]}`);
    seen.add(key);
    family(familyOf(s.name, families), n).samples.push(s);
  });
  for (const f of order) checkShape(f);
  return order;
}

/** A sample's family: `x_bucket`, `x_sum`, `x_count` belong to histogram or summary `x` when one is declared. */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = families.get(name.slice(0, -suffix.length));
    if (base && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base.name;
  }
  return name;
}

function parseSample(raw: string, n: number, fail: (line: number, msg: string) => never): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(raw);
  if (!m) return fail(n, `invalid sample line ${JSON.stringify(raw)}`);
  const name = m[1]!;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (raw[i] === '{') {
    i++;
    for (;;) {
      while (raw[i] === ' ') i++;
      if (raw[i] === '}') {
        i++;
        break;
      }
      const lm = /^([^=\s]*)\s*=\s*"/.exec(raw.slice(i));
      if (!lm) fail(n, `invalid label list in ${JSON.stringify(raw)}`);
      const label = lm![1]!;
      if (!LABEL_NAME.test(label) || label.startsWith('__')) fail(n, `invalid label name ${JSON.stringify(label)} in ${name}`);
      if (label in labels) fail(n, `label ${label} twice in ${name}`);
      i += lm![0].length;
      let value = '';
      for (;;) {
        const c = raw[i];
        if (c === undefined) fail(n, `unterminated label value in ${name}`);
        if (c === '"') break;
        if (c === '\\') {
          const e = raw[i + 1];
          if (e === '\\' || e === '"') value += e;
          else if (e === 'n') value += '\n';
          else fail(n, `invalid escape \\${e ?? ''} in a label value of ${name}`);
          i += 2;
        } else {
          value += c;
          i++;
        }
      }
      labels[label] = value;
      i++;
      while (raw[i] === ' ') i++;
      if (raw[i] === ',') i++;
      else if (raw[i] !== '}') fail(n, `expected , or } after label ${label} in ${name}`);
    }
  }
  const rest = raw.slice(i);
  const vm = /^ +(\S+)(?: +(-?\d+))? *$/.exec(rest);
  if (!vm) return fail(n, `expected a value (and optional timestamp) after ${name}, got ${JSON.stringify(rest)}`);
  const value = parseValue(vm[1]!);
  if (value === undefined) fail(n, `invalid sample value ${JSON.stringify(vm[1])} for ${name}`);
  return { name, labels, value: value!, line: n };
}

function parseValue(v: string): number | undefined {
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v) ? Number(v) : undefined;
}

/** Histogram and summary families: the right samples, `le` with a +Inf bucket, cumulative buckets, count = +Inf bucket. */
function checkShape(f: Family): void {
  const fail = (msg: string): never => {
    throw new ExpositionError(`${f.name}: ${msg}`);
  };
  if (f.type !== 'histogram' && f.type !== 'summary') {
    for (const s of f.samples) if (s.name !== f.name) fail(`sample ${s.name} in a ${f.type} family`);
    return;
  }
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, quantile, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let g = series.get(key);
    if (!g) series.set(key, (g = { buckets: [] }));
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) fail(`bucket without an le label (line ${s.line})`);
      const bound = parseValue(le!);
      if (bound === undefined) fail(`invalid le ${JSON.stringify(le)} (line ${s.line})`);
      g.buckets.push([bound!, s.value]);
    } else if (s.name === `${f.name}_sum`) g.sum = s.value;
    else if (s.name === `${f.name}_count`) g.count = s.value;
    else if (f.type === 'summary' && s.name === f.name) {
      if (quantile === undefined) fail(`summary sample without a quantile label (line ${s.line})`);
    } else fail(`sample ${s.name} in a ${f.type} family (line ${s.line})`);
  }
  for (const g of series.values()) {
    if (g.count === undefined || g.sum === undefined) fail(`a series lacks _count or _sum`);
    if (f.type !== 'histogram') continue;
    const b = g.buckets.sort((x, y) => x[0] - y[0]);
    if (b.at(-1)?.[0] !== Infinity) fail('no le="+Inf" bucket');
    for (let k = 1; k < b.length; k++) if (b[k]![1] < b[k - 1]![1]) fail(`bucket le=${b[k]![0]} holds less than a smaller bucket: buckets are cumulative`);
    if (b.at(-1)![1] !== g.count) fail(`_count ${g.count} differs from the +Inf bucket ${b.at(-1)![1]}`);
  }
}

/** promlint's naming problems of one family, each `name: problem` (promtool prints the same). */
export function lintFamily(f: Family): string[] {
  const out: string[] = [];
  const add = (p: string) => out.push(`${f.name}: ${p}`);
  const { name, type } = f;
  if (f.help === undefined) add('no help text');
  const words = name.split('_');
  for (const w of words) {
    const unit = Object.keys(UNITS).find((u) => w === u || UNIT_PREFIXES.some((p) => w === p + u));
    if (!unit) continue;
    const base = UNITS[unit]!;
    if (w !== base) add(`use base unit "${base}" instead of "${w}"`);
    break;
  }
  if (type === 'counter' && !name.endsWith('_total')) add('counter metrics should have "_total" suffix');
  if (type !== 'counter' && type !== 'untyped' && name.endsWith('_total')) add('non-counter metrics should not have "_total" suffix');
  if (type !== 'untyped') {
    const labels = new Set(f.samples.flatMap((s) => Object.keys(s.labels)));
    if (type !== 'histogram') {
      if (name.endsWith('_bucket')) add('non-histogram metrics should not have "_bucket" suffix');
      if (labels.has('le')) add('non-histogram metrics should not have "le" label');
    }
    if (type !== 'histogram' && type !== 'summary') {
      if (name.endsWith('_count')) add('non-histogram and non-summary metrics should not have "_count" suffix');
      if (name.endsWith('_sum')) add('non-histogram and non-summary metrics should not have "_sum" suffix');
    }
    if (type !== 'summary' && labels.has('quantile')) add('non-summary metrics should not have "quantile" label');
  }
  const lower = name.toLowerCase();
  for (const t of ['counter', 'gauge', 'histogram', 'summary']) {
    if (lower.includes(`_${t}_`) || lower.endsWith(`_${t}`)) add(`metric name should not include type '${t}'`);
  }
  if (name.includes(':')) add("metric names should not contain ':'");
  if (/[a-z][A-Z]/.test(name)) add("metric names should be written in 'snake_case' not 'camelCase'");
  for (const l of new Set(f.samples.flatMap((s) => Object.keys(s.labels)))) {
    if (/[a-z][A-Z]/.test(l)) add(`label names should be written in 'snake_case' not 'camelCase' (${l})`);
  }
  if (words.slice(1).some((w) => UNIT_ABBREVIATIONS.includes(w.toLowerCase()))) add('metric names should not contain abbreviated units');
  return out;
}

/** Everything promtool `check metrics` would report for this text: a format error, or the naming problems. */
export function checkMetrics(text: string): string[] {
  let families: Family[];
  try {
    families = parseExposition(text);
  } catch (err) {
    if (err instanceof ExpositionError) return [`error while linting: ${err.message}`];
    throw err;
  }
  return families.flatMap(lintFamily);
}
