/**
 * Prometheus metrics of the plugin (prom-client, on an injectable Registry). Labels are the
 * server id and small fixed sets (sample type, event kind): never a player.
 *
 * The hot path (one sample) only bumps plain numbers in PluginStats; `sync` moves the
 * increments into the counters at each flush, so a sample never pays for a label lookup.
 * Several plugin instances (replay runs one per server) may share a registry: a metric
 * already registered under the same name is reused.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Plain counters of one plugin instance (`CairnPlugin.stats()`). */
export interface PluginStats {
  /** raw samples accepted (bad ones included) */
  samples: number;
  /** samples rejected as malformed (logged and counted, never thrown) */
  badSamples: number;
  /** samples whose time was at or before a watermark already sent (the host fed them late) */
  lateSamples: number;
  /** deltas put into batches */
  deltasSent: number;
  /** discrete events put into batches */
  eventsSent: number;
  /** batches formed (each once, whatever the resends) */
  batchesFormed: number;
  /** batch frames written to a socket, resends included */
  batchesSent: number;
  /** bytes of batch frames written to a socket, resends included */
  bytesSent: number;
  /** acks received */
  acks: number;
  /** connections opened after the first */
  reconnects: number;
  /** prizes given in game by this instance */
  prizesGranted: number;
  /** prizes held in the ledger right now (player offline or item not givable) */
  prizesHeld: number;
  /** grants a crash interrupted (intent recorded, outcome not) that wait for an admin now */
  prizesUncertain: number;
  /** commands refused for lack of permission */
  deniedCommands: number;
  /** entries that broke a hunt's maxSpeed */
  suspects: number;
  /** deltas merged away under backpressure */
  deltasMerged: number;
  /** encoded bytes and batches in the outbox now */
  outboxBytes: number;
  outboxBatches: number;
  /** discrete events formed but not acked yet */
  discretePending: number;
  /** discrete events written to the spill file (outbox over its bound) */
  spilledEvents: number;
  /** discrete events in the spill file not sent yet */
  spillPending: number;
  /** size of the spill file in bytes */
  spillBytes: number;
  /** discrete events dropped because the spill file was at its cap or the disk refused it */
  spillDropped: number;
}

export function emptyStats(): PluginStats {
  return {
    samples: 0,
    badSamples: 0,
    lateSamples: 0,
    deltasSent: 0,
    eventsSent: 0,
    batchesFormed: 0,
    batchesSent: 0,
    bytesSent: 0,
    acks: 0,
    reconnects: 0,
    prizesGranted: 0,
    prizesHeld: 0,
    prizesUncertain: 0,
    deniedCommands: 0,
    suspects: 0,
    deltasMerged: 0,
    outboxBytes: 0,
    outboxBatches: 0,
    discretePending: 0,
    spilledEvents: 0,
    spillPending: 0,
    spillBytes: 0,
    spillDropped: 0,
  };
}

type CounterKey =
  | 'samples'
  | 'badSamples'
  | 'lateSamples'
  | 'deltasSent'
  | 'eventsSent'
  | 'batchesFormed'
  | 'batchesSent'
  | 'bytesSent'
  | 'acks'
  | 'reconnects'
  | 'prizesGranted'
  | 'deniedCommands'
  | 'suspects'
  | 'deltasMerged'
  | 'spilledEvents'
  | 'spillDropped';

const COUNTERS: Record<CounterKey, [name: string, help: string]> = {
  samples: ['cairn_plugin_samples_total', 'Raw samples the host fed into the plugin.'],
  badSamples: ['cairn_plugin_bad_samples_total', 'Samples rejected as malformed.'],
  lateSamples: ['cairn_plugin_late_samples_total', 'Samples with a time at or before a watermark already sent.'],
  deltasSent: ['cairn_plugin_deltas_total', 'Coalesced deltas put into batches.'],
  eventsSent: ['cairn_plugin_discrete_events_total', 'Discrete events (join, leave, enter, start, stop, rules) put into batches.'],
  batchesFormed: ['cairn_plugin_batches_formed_total', 'Batches formed.'],
  batchesSent: ['cairn_plugin_batches_sent_total', 'Batch frames written to the gateway socket, resends included.'],
  bytesSent: ['cairn_plugin_bytes_sent_total', 'Bytes of batch frames written to the gateway socket, resends included.'],
  acks: ['cairn_plugin_acks_total', 'Acks received from the gateway.'],
  reconnects: ['cairn_plugin_reconnects_total', 'Connections to the gateway opened after the first.'],
  prizesGranted: ['cairn_plugin_prizes_granted_total', 'Prizes given in game.'],
  deniedCommands: ['cairn_plugin_denied_commands_total', 'Commands refused for lack of permission.'],
  suspects: ['cairn_plugin_suspect_entries_total', "Treasure entries that broke the hunt's maxSpeed."],
  deltasMerged: ['cairn_plugin_deltas_merged_total', 'Deltas merged away in the outbox under backpressure.'],
  spilledEvents: ['cairn_plugin_spilled_events_total', 'Discrete events written to the spill file because the outbox was over its bound.'],
  spillDropped: ['cairn_plugin_spill_dropped_events_total', 'Discrete events (entries, joins, leaves) dropped because the spill file was at its cap or the disk refused it.'],
};

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export class PluginMetrics {
  private readonly counters: Array<[CounterKey, Counter<'server'>]> = [];
  private readonly last: Record<CounterKey, number>;
  private readonly heldGauge: Gauge<'server'>;
  private readonly uncertainGauge: Gauge<'server'>;
  private readonly outboxBytes: Gauge<'server'>;
  private readonly outboxBatches: Gauge<'server'>;
  private readonly spillBytes: Gauge<'server'>;
  private readonly spillEvents: Gauge<'server'>;
  private readonly flushSeconds: Histogram<'server'>;
  private readonly prizesHeld: Counter<'server'>;

  constructor(
    registry: Registry,
    private readonly server: string,
  ) {
    const registers = [registry];
    for (const key of Object.keys(COUNTERS) as CounterKey[]) {
      const [name, help] = COUNTERS[key];
      this.counters.push([key, reuse(registry, name, () => new Counter({ name, help, labelNames: ['server'], registers }))]);
    }
    this.last = Object.fromEntries(Object.keys(COUNTERS).map((k) => [k, 0])) as Record<CounterKey, number>;
    this.prizesHeld = reuse(registry, 'cairn_plugin_prizes_held_total', () => new Counter({ name: 'cairn_plugin_prizes_held_total', help: 'Prizes put on hold (player offline or item not givable).', labelNames: ['server'], registers }));
    this.heldGauge = reuse(registry, 'cairn_plugin_prizes_pending', () => new Gauge({ name: 'cairn_plugin_prizes_pending', help: 'Prizes held in the ledger now, waiting for their player.', labelNames: ['server'], registers }));
    this.uncertainGauge = reuse(registry, 'cairn_plugin_prizes_uncertain', () => new Gauge({ name: 'cairn_plugin_prizes_uncertain', help: 'Grants a crash interrupted (intent recorded, outcome not) that wait for an admin to resolve them.', labelNames: ['server'], registers }));
    this.outboxBytes = reuse(registry, 'cairn_plugin_outbox_bytes', () => new Gauge({ name: 'cairn_plugin_outbox_bytes', help: 'Encoded bytes of unacked batches.', labelNames: ['server'], registers }));
    this.outboxBatches = reuse(registry, 'cairn_plugin_outbox_batches', () => new Gauge({ name: 'cairn_plugin_outbox_batches', help: 'Unacked batches.', labelNames: ['server'], registers }));
    this.spillBytes = reuse(registry, 'cairn_plugin_spill_bytes', () => new Gauge({ name: 'cairn_plugin_spill_bytes', help: 'Size of the spill file.', labelNames: ['server'], registers }));
    this.spillEvents = reuse(registry, 'cairn_plugin_spill_events', () => new Gauge({ name: 'cairn_plugin_spill_events', help: 'Discrete events in the spill file not sent yet.', labelNames: ['server'], registers }));
    this.flushSeconds = reuse(
      registry,
      'cairn_plugin_flush_duration_seconds',
      () =>
        new Histogram({
          name: 'cairn_plugin_flush_duration_seconds',
          help: 'Time one flush, or one slice of a split flush (coalescer, batch formation, send), held the event loop.',
          labelNames: ['server'],
          buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
          registers,
        }),
    );
  }

  observeFlush(seconds: number): void {
    this.flushSeconds.observe({ server: this.server }, seconds);
  }

  prizeHeld(): void {
    this.prizesHeld.inc({ server: this.server });
  }

  /** Moves the increments since the last sync into the counters, and sets the gauges. */
  sync(s: PluginStats): void {
    for (const [key, counter] of this.counters) {
      const d = s[key] - this.last[key];
      if (d > 0) counter.inc({ server: this.server }, d);
      this.last[key] = s[key];
    }
    this.heldGauge.set({ server: this.server }, s.prizesHeld);
    this.uncertainGauge.set({ server: this.server }, s.prizesUncertain);
    this.outboxBytes.set({ server: this.server }, s.outboxBytes);
    this.outboxBatches.set({ server: this.server }, s.outboxBatches);
    this.spillBytes.set({ server: this.server }, s.spillBytes);
    this.spillEvents.set({ server: this.server }, s.spillPending);
  }
}
