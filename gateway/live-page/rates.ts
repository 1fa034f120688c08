/**
 * Rates for the live page's chart, from counters in the process's metrics registry:
 * samples/s (plugins running in this process: the demo's), events/s and records/s (the
 * gateway's). Sampled once a second into a ring of the last minutes; a counter the
 * registry does not have gives null, so the page shows "n/a" rather than a made-up 0.
 */
import type { Registry } from 'prom-client';

export const RATE_COUNTERS = {
  samples: 'cairn_plugin_samples_total',
  events: 'cairn_gateway_events_total',
  records: 'cairn_gateway_kinesis_records_total',
} as const;

export type RateName = keyof typeof RATE_COUNTERS;
/** [unix seconds, samples/s, events/s, records/s] */
export type RatePoint = [number, number | null, number | null, number | null];

const NAMES = Object.keys(RATE_COUNTERS) as RateName[];

async function counterTotal(registry: Registry, name: string): Promise<number | null> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return null;
  const { values } = await metric.get();
  return values.reduce((a, v) => a + v.value, 0);
}

export class RateHistory {
  private readonly points: RatePoint[] = [];
  private last: { at: number; totals: (number | null)[] } | undefined;

  constructor(
    private readonly registry: Registry,
    /** points kept: one a sample */
    private readonly keep = 600,
  ) {}

  /** Reads the counters now and appends the rates since the previous sample. */
  async sample(now = Date.now()): Promise<void> {
    const totals = await Promise.all(NAMES.map((n) => counterTotal(this.registry, RATE_COUNTERS[n])));
    const prev = this.last;
    this.last = { at: now, totals };
    if (!prev || now <= prev.at) return;
    const secs = (now - prev.at) / 1000;
    const rate = (i: number): number | null => {
      const a = prev.totals[i];
      const b = totals[i];
      return a === null || a === undefined || b === null || b === undefined ? null : Math.max(0, Math.round((b - a) / secs));
    };
    this.points.push([Math.round(now / 1000), rate(0), rate(1), rate(2)]);
    if (this.points.length > this.keep) this.points.splice(0, this.points.length - this.keep);
  }

  history(): RatePoint[] {
    return this.points.slice();
  }
}
