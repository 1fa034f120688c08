/**
 * The worker's figures, twice: a plain WorkerStats object (for `stats()`, replay's JSON
 * and tests) and prom-client metrics on an injectable Registry (for operators).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface WorkerStats {
  /** Kinesis records read and ingested (duplicates included) */
  records: number;
  /** events in records that were not duplicates (discrete events and deltas) */
  events: number;
  /** records whose part had already been ingested: nothing changed */
  duplicates: number;
  /** hunt events already pending when their record was ingested (another record carried them) */
  duplicateEvents: number;
  /** events that arrived for a window that was already closed: recorded, never folded */
  lateEvents: number;
  /** windows this worker committed (a run of empty windows closed at once counts as one) */
  windowsClosed: number;
  /** prizes this worker set (each (hunt, reason) is set once across all workers) */
  prizesCommitted: number;
  /** window commits refused because another worker had closed the window first */
  staleCommits: number;
  /** shard leases held now */
  shardsHeld: number;
  /** shard leases taken (free, expired or from the busiest worker), lost or given back since start */
  leaseChanges: number;
  /** of those, leases taken over from the busiest live worker for balancing */
  leasesStolen: number;
  /** records that are not Cairn event records: logged and skipped */
  badRecords: number;
  /** events inside valid records that are malformed: logged and skipped */
  badEvents: number;
  /** window-close passes finished (each looks at every hunt once): a test waits for these rather than for a fixed time */
  closePasses: number;
  /** lease ticks finished (renew, balance, take): as closePasses, for leases */
  leaseTicks: number;
}

export function emptyStats(): WorkerStats {
  return {
    records: 0, events: 0, duplicates: 0, duplicateEvents: 0, lateEvents: 0, windowsClosed: 0, prizesCommitted: 0,
    staleCommits: 0, shardsHeld: 0, leaseChanges: 0, leasesStolen: 0, badRecords: 0, badEvents: 0, closePasses: 0, leaseTicks: 0,
  };
}

export class WorkerMetrics {
  readonly stats: WorkerStats = emptyStats();
  private readonly records: Counter;
  private readonly events: Counter;
  private readonly duplicates: Counter<'what'>;
  private readonly late: Counter;
  private readonly bad: Counter<'what'>;
  private readonly windows: Counter;
  private readonly prizes: Counter;
  private readonly stale: Counter;
  private readonly leases: Counter<'change'>;
  private readonly held: Gauge;
  private readonly behind: Gauge<'hunt'>;
  private readonly closeSeconds: Histogram;

  /** A registry of its own by default, so several workers can live in one process. */
  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.records = new Counter({ name: 'cairn_worker_records_total', help: 'Kinesis records consumed', registers });
    this.events = new Counter({ name: 'cairn_worker_events_total', help: 'Events consumed (duplicate records excluded)', registers });
    this.duplicates = new Counter({ name: 'cairn_worker_duplicates_total', help: 'Duplicates dropped', labelNames: ['what'], registers });
    this.late = new Counter({ name: 'cairn_worker_late_events_total', help: 'Events that arrived after their window closed', registers });
    this.bad = new Counter({ name: 'cairn_worker_bad_input_total', help: 'Malformed records or events skipped', labelNames: ['what'], registers });
    this.windows = new Counter({ name: 'cairn_worker_windows_closed_total', help: 'Windows committed by this worker', registers });
    this.prizes = new Counter({ name: 'cairn_worker_prizes_committed_total', help: 'Prizes set by this worker', registers });
    this.stale = new Counter({ name: 'cairn_worker_stale_commits_total', help: 'Window commits rejected as stale', registers });
    this.leases = new Counter({ name: 'cairn_worker_lease_changes_total', help: 'Shard leases acquired (free or expired), stolen (taken over from the busiest worker for balancing), lost or released', labelNames: ['change'], registers });
    this.held = new Gauge({ name: 'cairn_worker_shards_held', help: 'Shard leases held', registers });
    this.behind = new Gauge({ name: 'cairn_worker_windows_behind', help: 'Closable windows not yet closed, per hunt', labelNames: ['hunt'], registers });
    this.closeSeconds = new Histogram({
      name: 'cairn_worker_window_close_seconds',
      help: 'Time to read, fold and commit one window',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  recordIngested(events: number, duplicate: boolean, duplicateEvents: number, late: number): void {
    this.stats.records++;
    this.records.inc();
    if (duplicate) {
      this.stats.duplicates++;
      this.duplicates.inc({ what: 'record' });
      return;
    }
    this.stats.events += events;
    this.events.inc(events);
    if (duplicateEvents) {
      this.stats.duplicateEvents += duplicateEvents;
      this.duplicates.inc({ what: 'event' }, duplicateEvents);
    }
    this.lateEvents(late);
  }

  lateEvents(n: number): void {
    if (!n) return;
    this.stats.lateEvents += n;
    this.late.inc(n);
  }

  badRecord(): void {
    this.stats.badRecords++;
    this.bad.inc({ what: 'record' });
  }

  badEvent(n = 1): void {
    this.stats.badEvents += n;
    this.bad.inc({ what: 'event' }, n);
  }

  windowClosed(seconds: number, prizes: number): void {
    this.stats.windowsClosed++;
    this.windows.inc();
    this.stats.prizesCommitted += prizes;
    if (prizes) this.prizes.inc(prizes);
    this.closeSeconds.observe(seconds);
  }

  staleCommit(): void {
    this.stats.staleCommits++;
    this.stale.inc();
  }

  leaseChange(change: 'acquired' | 'stolen' | 'lost' | 'released', held: number): void {
    this.stats.leaseChanges++;
    if (change === 'stolen') this.stats.leasesStolen++;
    this.leases.inc({ change });
    this.stats.shardsHeld = held;
    this.held.set(held);
  }

  closePass(): void {
    this.stats.closePasses++;
  }

  leaseTick(): void {
    this.stats.leaseTicks++;
  }

  windowsBehind(hunt: string, n: number): void {
    this.behind.set({ hunt }, n);
  }
}
