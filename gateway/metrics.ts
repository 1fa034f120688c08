/**
 * The gateway's metrics: prom-client collectors on an injectable Registry (a fresh one
 * by default, so two gateways in one process never clash), plus plain counters that
 * `Gateway.stats()` returns without going through prom-client.
 *
 * Names follow the Prometheus conventions (`_total` counters, base units in the name:
 * `_seconds`, `_bytes`), so `promtool check metrics` accepts them.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Window close -> prize-ack latency, by entry kind (gateway/delivery.ts observes it). */
export const DELIVERY_LATENCY_METRIC = 'cairn_gateway_prize_delivery_latency_seconds';

/** A snapshot of the gateway's counters since start. */
export interface GatewayStats {
  /** Open WebSocket connections (any state). */
  connections: number;
  /** Connections whose socket reading is paused because of the unacked-bytes cap. */
  pausedConnections: number;
  /** Batches received and validated (fresh and duplicate). */
  batches: number;
  /** Batches acked without writing, because their seq was already durable. */
  duplicateBatches: number;
  /** Fresh batches whose seq skipped one or more seqs. */
  seqGaps: number;
  /** Events in fresh batches. */
  events: number;
  /** Kinesis records accepted (each a KPL aggregate of user records). */
  records: number;
  /** User records (batch parts) in accepted Kinesis records. */
  userRecords: number;
  /** PutRecords calls made, retries included. */
  putCalls: number;
  /** PutRecords calls that resent entries after a failure. */
  putRetries: number;
  /** Entries a PutRecords call reported as failed, plus entries of calls that failed whole. */
  failedEntries: number;
  /** Bytes of binary frames received. */
  bytesIn: number;
  /** Prize and window-closed messages sent to servers. */
  prizesDelivered: number;
  /** Prize stream entries acked by servers. */
  prizeAcks: number;
  /** Prize stream entries of unknown kind (logged, acked, not delivered). */
  unknownPrizeEntries: number;
  /** Frames refused (undecodable, invalid, text, too large, hello missing). */
  badFrames: number;
  /** Hellos refused because a newer epoch of the server was seen. */
  staleEpochs: number;
  /** Hellos refused for a bad token. */
  authFailures: number;
  /** Open shards in the writer's view of the stream (0 until known). */
  openShards: number;
  /** Times the writer's view of the open shards changed (a split, a merge, a new count). */
  reshards: number;
}

export function emptyStats(): GatewayStats {
  return {
    connections: 0,
    pausedConnections: 0,
    batches: 0,
    duplicateBatches: 0,
    seqGaps: 0,
    events: 0,
    records: 0,
    userRecords: 0,
    putCalls: 0,
    putRetries: 0,
    failedEntries: 0,
    bytesIn: 0,
    prizesDelivered: 0,
    prizeAcks: 0,
    unknownPrizeEntries: 0,
    badFrames: 0,
    staleEpochs: 0,
    authFailures: 0,
    openShards: 0,
    reshards: 0,
  };
}

export class GatewayMetrics {
  readonly registry: Registry;
  readonly stats: GatewayStats = emptyStats();

  private readonly connectionsGauge: Gauge;
  private readonly pausedGauge: Gauge;
  private readonly openShardsGauge: Gauge;
  private readonly reshardsTotal: Counter;
  private readonly batchesTotal: Counter;
  private readonly duplicatesTotal: Counter;
  private readonly seqGapsTotal: Counter;
  private readonly eventsTotal: Counter;
  private readonly bytesTotal: Counter;
  private readonly recordsTotal: Counter;
  private readonly userRecordsTotal: Counter;
  private readonly putCallsTotal: Counter;
  private readonly putRetriesTotal: Counter;
  private readonly failedEntriesTotal: Counter<'code'>;
  private readonly putDuration: Histogram;
  private readonly ackLatency: Histogram;
  private readonly deliveredTotal: Counter;
  private readonly prizeAcksTotal: Counter;
  private readonly unknownEntriesTotal: Counter;
  private readonly badFramesTotal: Counter<'code'>;
  private readonly staleEpochsTotal: Counter;
  private readonly authFailuresTotal: Counter;
  private readonly deliveryLatencySeconds: Histogram<'kind'>;
  private readonly prizeLatency: Histogram.Internal<'kind'>;
  private readonly closedLatency: Histogram.Internal<'kind'>;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.connectionsGauge = new Gauge({ name: 'cairn_gateway_connections', help: 'Open WebSocket connections.', registers });
    this.openShardsGauge = new Gauge({ name: 'cairn_gateway_kinesis_open_shards', help: "Open shards in the Kinesis writer's view of the stream (ListShards).", registers });
    this.reshardsTotal = new Counter({ name: 'cairn_gateway_kinesis_reshards_total', help: "Changes of the writer's view of the open shards (split, merge, UpdateShardCount).", registers });
    this.pausedGauge = new Gauge({ name: 'cairn_gateway_paused_connections', help: 'Connections not being read because their unacked bytes reached the cap.', registers });
    this.batchesTotal = new Counter({ name: 'cairn_gateway_batches_total', help: 'Batches received (fresh and duplicate).', registers });
    this.duplicatesTotal = new Counter({ name: 'cairn_gateway_duplicate_batches_total', help: 'Resent batches acked without writing (seq already durable).', registers });
    this.seqGapsTotal = new Counter({ name: 'cairn_gateway_seq_gaps_total', help: 'Fresh batches whose seq skipped one or more seqs.', registers });
    this.eventsTotal = new Counter({ name: 'cairn_gateway_events_total', help: 'Events in fresh batches.', registers });
    this.bytesTotal = new Counter({ name: 'cairn_gateway_received_bytes_total', help: 'Bytes of binary frames received.', registers });
    this.recordsTotal = new Counter({ name: 'cairn_gateway_kinesis_records_total', help: 'Kinesis records accepted (KPL aggregates).', registers });
    this.userRecordsTotal = new Counter({ name: 'cairn_gateway_kinesis_user_records_total', help: 'User records (batch parts) in accepted Kinesis records.', registers });
    this.putCallsTotal = new Counter({ name: 'cairn_gateway_kinesis_put_calls_total', help: 'PutRecords calls made, retries included.', registers });
    this.putRetriesTotal = new Counter({ name: 'cairn_gateway_kinesis_put_retries_total', help: 'PutRecords calls that resent entries after a failure.', registers });
    this.failedEntriesTotal = new Counter({
      name: 'cairn_gateway_kinesis_failed_entries_total',
      help: 'PutRecords entries that failed, by error code (whole-call failures count every entry of the call).',
      labelNames: ['code'],
      registers,
    });
    this.putDuration = new Histogram({
      name: 'cairn_gateway_kinesis_put_duration_seconds',
      help: 'PutRecords call latency.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.ackLatency = new Histogram({
      name: 'cairn_gateway_batch_ack_latency_seconds',
      help: 'Time from receiving a batch to acking it (durable in Kinesis and Redis).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.deliveredTotal = new Counter({ name: 'cairn_gateway_prizes_delivered_total', help: 'Prize and window-closed messages sent to servers.', registers });
    this.prizeAcksTotal = new Counter({ name: 'cairn_gateway_prize_acks_total', help: 'Prize stream entries acked by servers.', registers });
    this.unknownEntriesTotal = new Counter({ name: 'cairn_gateway_unknown_prize_entries_total', help: 'Prize stream entries of unknown kind, acked without delivery.', registers });
    this.badFramesTotal = new Counter({ name: 'cairn_gateway_bad_frames_total', help: 'Frames refused, by error code.', labelNames: ['code'], registers });
    this.staleEpochsTotal = new Counter({ name: 'cairn_gateway_stale_epochs_total', help: 'Hellos refused because a newer epoch of the server was seen.', registers });
    this.authFailuresTotal = new Counter({ name: 'cairn_gateway_auth_failures_total', help: 'Connections refused for a bad token.', registers });
    this.deliveryLatencySeconds = new Histogram({
      name: DELIVERY_LATENCY_METRIC,
      help: 'Time from the window close that appended a prize stream entry (its id) to the game server acking it, by entry kind.',
      labelNames: ['kind'],
      // From a connected server's ~10 ms to one that was offline for a day.
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400],
      registers,
    });
    this.prizeLatency = this.deliveryLatencySeconds.labels('prize');
    this.closedLatency = this.deliveryLatencySeconds.labels('closed');
  }

  connectionOpened(): void {
    this.stats.connections++;
    this.connectionsGauge.inc();
  }
  connectionClosed(): void {
    this.stats.connections--;
    this.connectionsGauge.dec();
  }
  paused(delta: 1 | -1): void {
    this.stats.pausedConnections += delta;
    this.pausedGauge.inc(delta);
  }
  frame(bytes: number): void {
    this.stats.bytesIn += bytes;
    this.bytesTotal.inc(bytes);
  }
  batch(events: number, duplicate: boolean): void {
    this.stats.batches++;
    this.batchesTotal.inc();
    if (duplicate) {
      this.stats.duplicateBatches++;
      this.duplicatesTotal.inc();
    } else {
      this.stats.events += events;
      this.eventsTotal.inc(events);
    }
  }
  seqGap(): void {
    this.stats.seqGaps++;
    this.seqGapsTotal.inc();
  }
  putCall(seconds: number, retry: boolean): void {
    this.stats.putCalls++;
    this.putCallsTotal.inc();
    this.putDuration.observe(seconds);
    if (retry) {
      this.stats.putRetries++;
      this.putRetriesTotal.inc();
    }
  }
  acked(seconds: number): void {
    this.ackLatency.observe(seconds);
  }
  /** The writer's view of the open shards is now `n` shards; `changed` when it replaced another. */
  shardsViewed(n: number, changed: boolean): void {
    this.stats.openShards = n;
    this.openShardsGauge.set(n);
    if (changed) {
      this.stats.reshards++;
      this.reshardsTotal.inc();
    }
  }

  recordsAccepted(n: number, userRecords: number): void {
    this.stats.records += n;
    this.recordsTotal.inc(n);
    this.stats.userRecords += userRecords;
    this.userRecordsTotal.inc(userRecords);
  }
  entriesFailed(code: string, n: number): void {
    this.stats.failedEntries += n;
    this.failedEntriesTotal.inc({ code }, n);
  }
  delivered(n = 1): void {
    this.stats.prizesDelivered += n;
    this.deliveredTotal.inc(n);
  }
  prizeAcks(n: number): void {
    this.stats.prizeAcks += n;
    this.prizeAcksTotal.inc(n);
  }
  unknownPrizeEntry(): void {
    this.stats.unknownPrizeEntries++;
    this.unknownEntriesTotal.inc();
  }
  badFrame(code: string): void {
    this.stats.badFrames++;
    this.badFramesTotal.inc({ code });
  }
  staleEpoch(): void {
    this.stats.staleEpochs++;
    this.staleEpochsTotal.inc();
  }
  authFailure(): void {
    this.stats.authFailures++;
    this.authFailuresTotal.inc();
  }

  /** A delivered entry was acked `seconds` after the window close that appended it. */
  deliveryLatency(kind: 'prize' | 'closed', seconds: number): void {
    // The labelled child, not observe({ kind }, ...): that hashes the labels on every call,
    // and a window's acks observe every prize of every server.
    (kind === 'prize' ? this.prizeLatency : this.closedLatency).observe(seconds);
  }

  snapshot(): GatewayStats {
    return { ...this.stats };
  }
}
