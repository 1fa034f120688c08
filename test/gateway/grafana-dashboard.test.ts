/**
 * docs/grafana/cairn-dashboard.json: every metric its queries name is in a real /metrics
 * scrape of a running stack (gateway, worker, and a plugin on the same registry, as in
 * the demo), and every panel has a title and a unit.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRulesFile } from '../../plugin/rules-file.js';
import { CairnPlugin } from '../../plugin/cairn-plugin.js';
import { SimHost } from '../../plugin/hosts/sim-host.js';
import { testStack } from '../support/stack.js';

const DASHBOARD = JSON.parse(readFileSync(new URL('../../docs/grafana/cairn-dashboard.json', import.meta.url), 'utf8')) as Dashboard;
const RULES = loadRulesFile(new URL('../../hunts/spring.json', import.meta.url).pathname);

interface Panel {
  type: string;
  title?: string;
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: { expr: string }[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
}

const panels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...panels(p.panels ?? [])]);
const queryPanels = panels(DASHBOARD.panels).filter((p) => p.type !== 'row');

/** PromQL words that are not metric names: functions, keywords and the labels we group by. */
const NOT_METRICS = new Set(['sum', 'max', 'min', 'avg', 'rate', 'increase', 'histogram_quantile', 'by', 'le', 'code', 'kind', 'change', 'server', 'hunt', 'what']);

/** The metric names a PromQL expression reads. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '') // label values
    .replace(/\[[^\]]*\]/g, '') // range durations and $__rate_interval
    .replace(/\$\w+/g, '');
  return (bare.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? []).filter((w) => !NOT_METRICS.has(w));
}

/** name -> type, from the `# TYPE` lines of a Prometheus text exposition. */
function exposedTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  return types;
}

function exposes(types: Map<string, string>, name: string): boolean {
  if (types.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && ['histogram', 'summary'].includes(types.get(m[1]!) ?? '') && (m[2] !== 'bucket' || types.get(m[1]!) === 'histogram');
}

describe('Grafana dashboard', () => {
  it('has a title and a unit on every panel, and queries on every non-row panel', () => {
    expect(queryPanels.length).toBeGreaterThan(15);
    for (const p of queryPanels) {
      expect(p.title?.trim(), JSON.stringify(p).slice(0, 120)).toBeTruthy();
      expect(p.fieldConfig?.defaults?.unit?.trim(), `panel "${p.title}" has no unit`).toBeTruthy();
      expect(p.targets?.length, `panel "${p.title}" has no query`).toBeGreaterThan(0);
    }
  });

  it('names only metrics that a running stack exposes on /metrics', async () => {
    const stack = await testStack();
    const dataDir = mkdtempSync(join(tmpdir(), 'cairn-grafana-'));
    const host = new SimHost('srv-a', [RULES], { bots: 4, seed: 1, namePrefix: 'a' });
    const plugin = await CairnPlugin.start({ host, hunts: [RULES], dataDir, gatewayUrl: stack.gateway!.url, token: 'cairn-dev-token', registry: stack.registry });
    try {
      for (const s of host.joinAll()) plugin.accept(s);
      for (const s of host.step(500)) plugin.accept(s);
      plugin.flush({ force: true });
      await expect.poll(() => plugin.stats().acks, { timeout: 20_000 }).toBeGreaterThan(0);
      const text = await (await fetch(`http://127.0.0.1:${stack.gateway!.port}/metrics`)).text();
      const types = exposedTypes(text);
      const named = new Set(queryPanels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr))));
      expect(named.size).toBeGreaterThan(30);
      const missing = [...named].filter((n) => !exposes(types, n));
      expect(missing, `not in the scrape: ${missing.join(', ')}`).toEqual([]);
    } finally {
      await plugin.stop(3000);
      await stack.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('reads metric names out of PromQL', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, kind) (rate(cairn_x_seconds_bucket{code="a b"}[$__rate_interval])))')).toEqual(['cairn_x_seconds_bucket']);
  });
});
