/**
 * The plugin's parts and how they are wired together at start: the outbox, link, ledger and
 * spill file; the shipper that flushes; the intake that takes samples; the prize queue; the
 * commands. `CairnPlugin` (cairn-plugin.ts) holds them and is the face a host sees.
 */
import { mkdir } from 'node:fs/promises';
import { Registry } from 'prom-client';
import { CairnError, ErrorCode } from '../protocol/index.js';
import { Announcer } from './announcer.js';
import { Coalescer } from './coalescer.js';
import { commandServices } from './command-services.js';
import { HuntCommands, type EventDraft } from './commands.js';
import { bumpEpoch } from './epoch.js';
import { HuntCatalog } from './hunt-catalog.js';
import { HuntRuns } from './hunt-runs.js';
import { huntSubcommands } from './hunt-subcommands.js';
import { Link } from './link.js';
import { emptyStats, PluginMetrics, type PluginStats } from './metrics.js';
import { Outbox } from './outbox.js';
import type { ResolvedOptions } from './plugin-options.js';
import { PrizeLedger } from './prize-ledger.js';
import { PrizeQueue } from './prize-queue.js';
import { RulesSwitch } from './rules-switch.js';
import { SampleIntake } from './sample-intake.js';
import { Shipper } from './shipper.js';
import { Spill } from './spill/spill-file.js';
import { TreasureIndex, Triggers } from './triggers.js';
import { WindowTracker } from './window-tracker.js';

export interface PluginParts {
  epoch: number;
  catalog: HuntCatalog;
  outbox: Outbox;
  link: Link;
  ledger: PrizeLedger;
  spill: Spill;
  metrics: PluginMetrics;
  shipper: Shipper;
  intake: SampleIntake;
  prizeQueue: PrizeQueue;
  windows: WindowTracker;
  /** the plugin's plain counters (`CairnPlugin.stats()`) */
  s: PluginStats;
}

/** What the parts call back into the plugin for. */
export interface PluginHooks {
  /** the host's time, or undefined when it is not a finite number */
  now(): number | undefined;
  /** reports a prize or a closed window to the plugin's listeners */
  emit(event: 'prize' | 'window-closed', arg: unknown): void;
  /** a flush completed */
  flushed(): void;
  stats(): PluginStats;
}

/** Bumps the epoch, opens the ledger and the spill file, and wires every part; connects nothing yet. */
export async function assemble(opts: ResolvedOptions, hooks: PluginHooks): Promise<PluginParts> {
  const serverId = opts.host.serverId;
  let outbox: Outbox;
  let catalog: HuntCatalog;
  let coalescer: Coalescer;
  try {
    outbox = new Outbox({ maxBytes: opts.outboxMaxBytes, batchMaxEvents: opts.batchMaxEvents, batchMaxBytes: opts.batchMaxBytes, quantum: opts.coalescer?.quantum });
    coalescer = new Coalescer(opts.coalescer);
    catalog = new HuntCatalog(opts.hunts);
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw new CairnError(ErrorCode.ConfigInvalid, err instanceof Error ? err.message : String(err));
  }
  await mkdir(opts.dataDir, { recursive: true });
  const epoch = await bumpEpoch(opts.dataDir);
  const ledger = await PrizeLedger.open({ dataDir: opts.dataDir, host: opts.host, io: opts.ledgerIo });
  const spill = Spill.open(opts.dataDir, { maxBytes: opts.spillMaxBytes });
  const link = new Link({ url: opts.gatewayUrl, serverId, epoch, token: opts.token, outbox, ...opts.link });
  const metrics = new PluginMetrics(opts.registry ?? new Registry(), serverId);
  const s = emptyStats();
  const windows = new WindowTracker();
  const runs = new HuntRuns();
  const announcer = new Announcer(opts.host, catalog);
  const onPause = opts.onFlushPause;
  const shipper = new Shipper({
    coalescer,
    outbox,
    link,
    spill,
    clock: hooks.now,
    heartbeatMs: opts.heartbeatMs,
    sliceEvents: opts.flushSliceEvents,
    sliceMs: opts.flushSliceMs,
    onPause: (ms) => {
      metrics.observeFlush(ms / 1000);
      onPause?.(ms);
    },
    onFlushed: hooks.flushed,
  });
  const prizeQueue = new PrizeQueue({
    server: serverId,
    ledger,
    sendPrizeAck: (ids) => link.sendPrizeAck(ids),
    onPrize: (p, outcome) => {
      if (outcome === 'held') metrics.prizeHeld();
      if (outcome !== 'duplicate') announcer.prize(p);
      hooks.emit('prize', { ...p, outcome });
    },
    onWindowClosed: (w) => {
      windows.record(w.hunt, w.end);
      announcer.windowClosed(w.hunt);
      hooks.emit('window-closed', w);
    },
  });
  const triggers = new Triggers(new TreasureIndex(opts.hunts));
  const rulesSwitch = new RulesSwitch(triggers, opts.hunts);
  const intake = new SampleIntake({
    epoch,
    coalescer,
    triggers,
    shipper,
    stats: s,
    // A held record is in the ledger's memory from the moment it is decided, so a join
    // during the fsync of the group that holds it is seen here too.
    onJoin: (player) => {
      announcer.joined(player);
      if (ledger.hasHeld(player)) prizeQueue.push({ k: 'join', player });
    },
    onLeave: (player) => announcer.left(player),
    rulesSwitch,
  });
  const emit = (ev: EventDraft) => {
    intake.queueEvent(ev);
    // This server knows a start or stop issued here at once; the worker's state only when a window closes.
    if (ev.k === 'start' || ev.k === 'stop') {
      runs.record(ev.hunt, ev.k, ev.t, ev.p);
      if (ev.k === 'start') rulesSwitch.started(ev.hunt, ev.t);
      if (ev.k === 'start') announcer.started(ev.hunt);
      else announcer.stopped(ev.hunt);
    }
  };
  const commands = new HuntCommands({ host: opts.host, hunts: catalog, emit, onDenied: () => s.deniedCommands++ });
  const services = commandServices({ server: serverId, host: opts.host, huntsDir: opts.huntsDir, catalog, runs, rulesSwitch, intake, ledger, prizeQueue, link, suspectLog: intake.suspectLog, stats: hooks.stats });
  for (const sub of huntSubcommands(services)) commands.register(sub);
  intake.commands = commands;
  return { epoch, catalog, outbox, link, ledger, spill, metrics, shipper, intake, prizeQueue, windows, s };
}

/** Copies the parts' counters into `p.s`. */
export function refreshStats(p: PluginParts): void {
  const ls = p.link.stats;
  const c = p.shipper.counts;
  const s = p.s;
  s.eventsSent = c.discrete;
  s.deltasSent = c.deltas;
  s.batchesFormed = c.batches;
  s.spilledEvents = c.spilled;
  s.spillPending = p.spill.unreadEvents;
  s.spillBytes = p.spill.bytes;
  s.spillDropped = p.shipper.spillway.dropped;
  s.batchesSent = ls.batchesSent;
  s.bytesSent = ls.bytesSent;
  s.acks = ls.acks;
  s.reconnects = ls.reconnects;
  s.prizesGranted = p.ledger.granted;
  s.prizesHeld = p.ledger.heldNow;
  s.prizesUncertain = p.ledger.uncertainNow;
  s.deltasMerged = p.outbox.merged;
  s.outboxBytes = p.outbox.bytes;
  s.outboxBatches = p.outbox.size;
  s.discretePending = p.outbox.discretePending;
}
