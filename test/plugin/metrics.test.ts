import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyStats, PluginMetrics } from '../../plugin/metrics.js';
import { harness, type Harness } from './support/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.cleanup();
});

const value = async (registry: Registry, name: string, server = 'srv-a') => {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values as Array<{ value: number; labels: Record<string, string> }> | undefined)?.find((v) => v.labels.server === server)?.value;
};

describe('plugin metrics', () => {
  it('counts samples, events, batches and flush time on the injected registry, labelled by server only', async () => {
    const registry = new Registry();
    const p = await h.start({ registry });
    p.accept({ type: 'join', t: h.host.clock + 1, player: 'p1' });
    p.accept({ type: 'move', t: h.host.clock + 2, player: 'p1', region: 'r1', at: [10, 64, -20] });
    p.accept({ type: 'command', t: h.host.clock + 3, player: 'p1', line: 'hunt start spring' });
    h.host.clock += 5;
    p.flush();
    await p.drain();
    p.flush({ force: true });
    expect(await value(registry, 'cairn_plugin_samples_total')).toBe(3);
    expect(await value(registry, 'cairn_plugin_discrete_events_total')).toBe(4); // 2 rules, join, enter
    expect(await value(registry, 'cairn_plugin_deltas_total')).toBe(1);
    expect(await value(registry, 'cairn_plugin_denied_commands_total')).toBe(1);
    expect(await value(registry, 'cairn_plugin_batches_sent_total')).toBe(1);
    expect(await value(registry, 'cairn_plugin_acks_total')).toBe(1);
    const flush = (await registry.getMetricsAsJSON()).find((x) => x.name === 'cairn_plugin_flush_duration_seconds');
    expect(flush?.values.find((v) => (v as { metricName?: string }).metricName === 'cairn_plugin_flush_duration_seconds_count')?.value).toBe(2);
    for (const m of await registry.getMetricsAsJSON()) {
      for (const v of m.values) expect(Object.keys(v.labels).filter((l) => l !== 'le')).toEqual(['server']);
    }
  });

  it('several plugin instances can share one registry', async () => {
    const registry = new Registry();
    const a = new PluginMetrics(registry, 'srv-a');
    const b = new PluginMetrics(registry, 'srv-b');
    a.sync({ ...emptyStats(), samples: 5 });
    b.sync({ ...emptyStats(), samples: 7 });
    a.sync({ ...emptyStats(), samples: 6 });
    expect(await value(registry, 'cairn_plugin_samples_total', 'srv-a')).toBe(6);
    expect(await value(registry, 'cairn_plugin_samples_total', 'srv-b')).toBe(7);
  });
});
