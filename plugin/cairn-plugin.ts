/**
 * The plugin: what runs inside a game server. The host feeds raw samples in with
 * `accept`; the plugin turns them into discrete events (join, leave, enter, start, stop)
 * and coalesced deltas, forms batches at each flush, and ships them over the link. Prizes
 * coming back are granted exactly once through the ledger.
 *
 * The data folder holds the epoch, the prize ledger and the spill file. Flushing, the
 * outbox bound and the spill file are the shipper's (plugin/shipper.ts): the timer's flush
 * runs in short slices, and discrete events past the outbox bound wait in the spill file,
 * which stop() leaves holding everything not acked, for the next start to send again.
 *
 * Events: 'window-closed' ({ hunt, start, end }), 'prize' ({ ...prize, outcome }),
 * 'error' (CairnError: the gateway refuses this server; emitted only when someone listens,
 * since an unhandled 'error' would crash the game server; it is logged either way).
 */
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { Registry } from 'prom-client';
import { CairnError, ErrorCode, type DiscreteEvent, type EnterEvent, type HuntRules, type Prize, type PrizeView, type WindowClosed } from '../protocol/index.js';
import { ID_PATTERN } from '../protocol/limits.js';
import { logger } from '../common/log.js';
import { Coalescer, type CoalescerOptions } from './coalescer.js';
import { HuntCommands, type EventDraft } from './commands.js';
import { bumpEpoch } from './epoch.js';
import type { Host, Sample } from './host.js';
import { HuntCatalog } from './hunt-catalog.js';
import { loadHuntsDir } from './hunts-folder.js';
import { huntSubcommands, type CommandServices, type SuspectRecord } from './hunt-subcommands.js';
import { Link, type LinkOptions } from './link.js';
import { emptyStats, PluginMetrics, type PluginStats } from './metrics.js';
import { Outbox } from './outbox.js';
import { PrizeLedger, type LedgerIo, type PrizeOutcome } from './prize-ledger.js';
import { Shipper } from './shipper.js';
import { leaveInSpill, stopOnSignals, type StopReport } from './shutdown.js';
import { Spill } from './spill.js';
import { TreasureIndex, Triggers, type Entry } from './triggers.js';
import { WindowTracker } from './window-tracker.js';

export type { PluginStats } from './metrics.js';
export type { StopReport } from './shutdown.js';

const log = logger('plugin');

/** Reconnect and connection tuning of the link (tests shorten these). */
export type LinkTuning = Pick<LinkOptions, 'backoffBaseMs' | 'backoffCapMs' | 'welcomeTimeoutMs' | 'pingIntervalMs' | 'maxInFlightBytes'>;

export interface PluginOptions {
  host: Host;
  hunts: HuntRules[];
  /** Folder `hunt reload` re-reads (*.json, one hunt each); without it, reload is refused. */
  huntsDir?: string;
  /** Folder for the epoch, the prize ledger and the spill file; one per server. Created when missing. */
  dataDir: string;
  /** e.g. ws://127.0.0.1:7070 */
  gatewayUrl: string;
  token: string;
  /** @default 250 */
  flushIntervalMs?: number;
  /**
   * Most events one slice of a timer flush handles; a flush of more runs in slices on
   * successive event-loop turns, so it never holds the game's tick for long. @default 128
   */
  flushSliceEvents?: number;
  /** Called with the duration (ms) of every flush slice: for profilers and benchmarks. */
  onFlushPause?: (ms: number) => void;
  /**
   * Standalone use: stop() on SIGTERM or SIGINT (flush, wait for acks up to `timeoutMs`,
   * default 5000, report the spill), then let the signal take its course. A host with its own
   * shutdown leaves this off. @default false
   */
  stopOnSignals?: boolean | { timeoutMs: number };
  /** An idle plugin still sends an (empty) batch this often so its watermark advances. @default 1000 */
  heartbeatMs?: number;
  /** Flush on a wall-clock timer; the replay passes false and calls flush() itself on trace time. @default true */
  autoFlush?: boolean;
  /** @default 500 (at most MAX_BATCH_EVENTS) */
  batchMaxEvents?: number;
  /** Encoded bytes per batch. @default 256 KiB (below MAX_FRAME_BYTES) */
  batchMaxBytes?: number;
  /** Bound on unacked encoded bytes; past it deltas merge, then discrete events spill to a file. @default 64 MiB */
  outboxMaxBytes?: number;
  /** @default a new Registry of the plugin's own */
  registry?: Registry;
  /** Position quantization. @default { quantum: 0.05, minChange: 0.05 } */
  coalescer?: CoalescerOptions;
  link?: LinkTuning;
  /** How the prize ledger writes and fsyncs: for tests (count, stall or fail appends) and benchmarks. @default nodeLedgerIo */
  ledgerIo?: LedgerIo;
}

/** A message for the prize path, queued until its group commit. */
type PrizeWork = { k: 'prize'; p: Prize } | { k: 'window-closed'; w: WindowClosed } | { k: 'join'; player: string };

export interface WindowClosedInfo {
  hunt: string;
  start: number;
  end: number;
}

export type { PrizeView } from '../protocol/index.js';

const ID_RE = new RegExp(ID_PATTERN);
/** How long stop() waits for a prize append in progress (an fsync on a slow disk). */
const PRIZE_QUEUE_STOP_MS = 10_000;
/**
 * Most prize messages (prizes, window-closed, joins with held prizes) in one group commit.
 * The gateway pushes up to 100 entries per read (gateway/delivery.ts); the cap bounds one
 * append (~200 bytes a record) and one PrizeAck frame (~25 bytes an id, MAX_FRAME_BYTES 1 MiB).
 */
export const MAX_PRIZE_GROUP = 1024;
/** Strings on the wire are 1-256 characters (protocol/codec.ts); a longer one would get the whole batch refused. */
const MAX_WIRE_STRING = 256;
/** 128 deltas take ~0.06 ms to emit, encode and send (bench/plugin-hot-path): slices stay far under issue 3's 1 ms pause goal even with GC and a busy machine. */
const DEFAULT_FLUSH_SLICE_EVENTS = 128;
/** `hunt suspects` lists at most this many recent suspect entries per server. */
const SUSPECT_LOG_SIZE = 1000;

export class CairnPlugin extends EventEmitter {
  readonly serverId: string;
  readonly epoch: number;
  private readonly host: Host;
  private readonly catalog: HuntCatalog;
  private readonly coalescer: Coalescer;
  private readonly triggers: Triggers;
  private readonly commands: HuntCommands;
  private readonly outbox: Outbox;
  private readonly link: Link;
  private readonly ledger: PrizeLedger;
  private readonly spill: Spill;
  private readonly shipper: Shipper;
  private readonly metrics: PluginMetrics;
  private readonly s: PluginStats = emptyStats();
  private readonly entries: Entry[] = [];
  private n = 0;
  private readonly windows = new WindowTracker();
  /** prize messages not yet in a group, in arrival order */
  private readonly prizeQueue: PrizeWork[] = [];
  /** the running drain of prizeQueue (resolved when idle); it never rejects */
  private prizeWork: Promise<void> = Promise.resolve();
  private prizeDraining = false;
  private timer: NodeJS.Timeout | undefined;
  private stopping: Promise<StopReport> | undefined;
  private signals: { remove(): void } | undefined;
  private stopped = false;
  private warnedLate = false;
  /** the latest suspect entries on this server, for `hunt suspects` */
  private readonly suspectLog: SuspectRecord[] = [];

  /** Bumps the epoch, opens the ledger, connects, and resolves once the gateway welcomed the link. */
  static async start(opts: PluginOptions): Promise<CairnPlugin> {
    const serverId = opts.host.serverId;
    if (typeof serverId !== 'string' || !ID_RE.test(serverId)) {
      throw new CairnError(ErrorCode.ConfigInvalid, `host.serverId ${JSON.stringify(serverId)}: must match ${ID_PATTERN}`);
    }
    if (!/^wss?:\/\//.test(opts.gatewayUrl)) throw new CairnError(ErrorCode.ConfigInvalid, `gatewayUrl ${JSON.stringify(opts.gatewayUrl)}: must be a ws:// or wss:// URL`);
    const flushIntervalMs = opts.flushIntervalMs ?? 250;
    const heartbeatMs = opts.heartbeatMs ?? 1000;
    const sliceEvents = opts.flushSliceEvents ?? DEFAULT_FLUSH_SLICE_EVENTS;
    if (!(flushIntervalMs > 0)) throw new CairnError(ErrorCode.ConfigInvalid, `flushIntervalMs must be > 0, got ${flushIntervalMs}`);
    if (!(heartbeatMs > 0)) throw new CairnError(ErrorCode.ConfigInvalid, `heartbeatMs must be > 0, got ${heartbeatMs}`);
    if (!Number.isInteger(sliceEvents) || sliceEvents < 1) throw new CairnError(ErrorCode.ConfigInvalid, `flushSliceEvents must be a positive integer, got ${sliceEvents}`);
    let outbox: Outbox;
    let catalog: HuntCatalog;
    let coalescer: Coalescer;
    try {
      outbox = new Outbox({ maxBytes: opts.outboxMaxBytes, batchMaxEvents: opts.batchMaxEvents, batchMaxBytes: opts.batchMaxBytes, quantum: opts.coalescer?.quantum });
      coalescer = new Coalescer(opts.coalescer);
      catalog = new HuntCatalog(opts.hunts);
    } catch (err) {
      if (err instanceof CairnError) throw err;
      throw new CairnError(ErrorCode.ConfigInvalid, (err as Error).message);
    }
    await mkdir(opts.dataDir, { recursive: true });
    const epoch = await bumpEpoch(opts.dataDir);
    const ledger = await PrizeLedger.open({ dataDir: opts.dataDir, host: opts.host, io: opts.ledgerIo });
    const spill = Spill.open(opts.dataDir);
    const link = new Link({ url: opts.gatewayUrl, serverId, epoch, token: opts.token, outbox, ...opts.link });
    const plugin = new CairnPlugin(opts, serverId, epoch, { outbox, catalog, coalescer, ledger, link, spill }, { heartbeatMs, sliceEvents });
    const t = opts.host.now();
    for (const { rules, hash } of catalog.all()) plugin.queueEvent({ k: 'rules', t, hunt: rules.id, rules, hash });
    log.info({ server: serverId, epoch, hunts: catalog.ids(), gateway: opts.gatewayUrl, dataDir: opts.dataDir, spilledFromBefore: spill.unreadEvents }, 'plugin starting');
    link.start();
    try {
      await link.firstWelcome();
    } catch (err) {
      await plugin.stop(0).catch(() => undefined);
      throw err;
    }
    if (opts.autoFlush ?? true) plugin.timer = setInterval(() => plugin.flushSliced(), flushIntervalMs);
    if (opts.stopOnSignals) {
      const timeoutMs = typeof opts.stopOnSignals === 'object' ? opts.stopOnSignals.timeoutMs : undefined;
      plugin.signals = stopOnSignals(plugin.serverId, () => plugin.stop(timeoutMs));
    }
    return plugin;
  }

  private constructor(
    opts: PluginOptions,
    serverId: string,
    epoch: number,
    parts: { outbox: Outbox; catalog: HuntCatalog; coalescer: Coalescer; ledger: PrizeLedger; link: Link; spill: Spill },
    tuning: { heartbeatMs: number; sliceEvents: number },
  ) {
    super();
    this.serverId = serverId;
    this.epoch = epoch;
    this.host = opts.host;
    this.catalog = parts.catalog;
    this.outbox = parts.outbox;
    this.coalescer = parts.coalescer;
    this.ledger = parts.ledger;
    this.link = parts.link;
    this.spill = parts.spill;
    this.triggers = new Triggers(new TreasureIndex(opts.hunts));
    this.metrics = new PluginMetrics(opts.registry ?? new Registry(), serverId);
    const onPause = opts.onFlushPause;
    this.shipper = new Shipper({
      coalescer: this.coalescer,
      outbox: this.outbox,
      link: this.link,
      spill: this.spill,
      clock: () => this.now(),
      heartbeatMs: tuning.heartbeatMs,
      sliceEvents: tuning.sliceEvents,
      onPause: (ms) => {
        this.metrics.observeFlush(ms / 1000);
        onPause?.(ms);
      },
      onFlushed: () => this.syncMetrics(),
    });
    // Acks make room in the outbox: send on from the spill file.
    this.link.on('ack', () => this.shipper.pumpSpill());
    this.link.on('welcome', () => this.shipper.pumpSpill());
    this.commands = new HuntCommands({
      host: this.host,
      hunts: this.catalog,
      emit: (ev) => this.queueEvent(ev),
      onDenied: () => this.s.deniedCommands++,
    });
    for (const sub of huntSubcommands(this.commandServices(opts.huntsDir))) this.commands.register(sub);
    this.link.on('prize', (p: Prize) => this.queuePrizeWork({ k: 'prize', p }));
    this.link.on('window-closed', (w: WindowClosed) => this.queuePrizeWork({ k: 'window-closed', w }));
    this.link.on('error', (err: CairnError) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /** What the issue-6 subcommands need from this plugin. */
  private commandServices(huntsDir: string | undefined): CommandServices {
    return {
      query: (q) => this.link.query(q),
      reload: (t) => {
        if (!huntsDir) return { ok: false, errors: ['this server was started without a hunts folder to reload from'] };
        const res = loadHuntsDir(huntsDir);
        if (!res.ok) return res;
        const changed = this.catalog.replace(res.hunts);
        this.triggers.setIndex(new TreasureIndex(res.hunts));
        for (const id of changed) {
          const h = this.catalog.get(id);
          if (h) this.queueEvent({ k: 'rules', t, hunt: id, rules: h.rules, hash: h.hash, reload: 1 });
        }
        log.info({ server: this.serverId, hunts: this.catalog.ids(), changed }, 'hunts reloaded');
        return { ok: true, hunts: this.catalog.ids(), changed };
      },
      heldPrizes: (player) =>
        this.ledger
          .records()
          .filter((r) => r.status === 'held' && (player === undefined || r.player === player))
          .map(({ player: p, hunt, reason, item, count }) => ({ player: p, hunt, reason, item, count })),
      suspects: (hunt) => this.suspectLog.filter((s) => s.hunt === hunt),
      linkStatus: () => {
        const st = this.stats();
        return { connected: this.link.connected, outboxBatches: st.outboxBatches, batchesSent: st.batchesSent, eventsSent: st.eventsSent, deltasSent: st.deltasSent, samples: st.samples };
      },
    };
  }

  /** Feeds one raw sample in. O(1); never throws: a bad sample is logged and counted. */
  accept(sample: Sample): void {
    if (this.stopped) return;
    this.s.samples++;
    try {
      const t = sample.t;
      const player = sample.player;
      if (typeof t !== 'number' || !Number.isFinite(t)) return this.bad(sample, 't must be a finite number');
      if (typeof player !== 'string') return this.bad(sample, 'player must be a string');
      if (t <= this.shipper.claimedWatermark) this.late(sample);
      switch (sample.type) {
        case 'move':
          return this.move(sample.player, t, sample.region, sample.at, sample);
        case 'join':
          if (!ID_RE.test(player)) return this.bad(sample, `player must match ${ID_PATTERN}`);
          return this.join(player, t);
        case 'leave':
          if (!ID_RE.test(player)) return this.bad(sample, `player must match ${ID_PATTERN}`);
          this.queueEvent({ k: 'leave', t, p: player });
          this.triggers.leave(player);
          this.coalescer.leave(player);
          return;
        case 'command':
          if (player.length === 0 || player.length > MAX_WIRE_STRING) return this.bad(sample, `player must be 1-${MAX_WIRE_STRING} characters`);
          if (typeof sample.line !== 'string') return this.bad(sample, 'line must be a string');
          this.commands.handle(player, sample.line, t);
          return;
        case 'inventory':
          // Counted only: DeltaEvent has no inventory field yet (see the report on #2).
          return;
        default:
          return this.bad(sample, `unknown sample type ${JSON.stringify((sample as { type?: unknown }).type)}`);
      }
    } catch (err) {
      this.bad(sample, (err as Error).message);
    }
  }

  private join(player: string, t: number): void {
    this.triggers.join(player);
    const i = this.coalescer.join(player, t);
    this.queueEvent({ k: 'join', t, p: player, i });
    // A held record is in the ledger's memory from the moment it is decided, so a join during
    // the fsync of the group that holds it is seen here too.
    if (this.ledger.hasHeld(player)) this.queuePrizeWork({ k: 'join', player });
  }

  private move(player: string, t: number, region: unknown, at: unknown, sample: Sample): void {
    if (typeof region !== 'string' || region.length === 0 || region.length > MAX_WIRE_STRING) return this.bad(sample, `region must be 1-${MAX_WIRE_STRING} characters`);
    if (!Array.isArray(at) || at.length !== 3) return this.bad(sample, 'at must be [x, y, z]');
    const x = at[0] as unknown;
    const y = at[1] as unknown;
    const z = at[2] as unknown;
    if (typeof x !== 'number' || typeof y !== 'number' || typeof z !== 'number' || !Number.isFinite(x + y + z)) return this.bad(sample, 'at must be three finite numbers');
    if (!this.coalescer.move(player, t, region, x, y, z)) {
      // A player already online when the plugin started: open the session here.
      if (!ID_RE.test(player)) return this.bad(sample, `player must match ${ID_PATTERN}`);
      this.join(player, t);
      this.coalescer.move(player, t, region, x, y, z);
    }
    const entries = this.entries;
    this.triggers.move(player, t, region, at as [number, number, number], entries);
    if (entries.length === 0) return;
    for (const { treasure, suspect } of entries) {
      const ev: EnterEvent = { k: 'enter', e: this.epoch, n: ++this.n, t, p: player, hunt: treasure.hunt, tr: treasure.id, region, at: [x, y, z] };
      if (suspect) {
        ev.sus = 1;
        this.s.suspects++;
        this.suspectLog.push({ player, hunt: treasure.hunt, treasure: treasure.id, t });
        if (this.suspectLog.length > SUSPECT_LOG_SIZE) this.suspectLog.shift();
      }
      this.shipper.queue(ev);
    }
    entries.length = 0;
  }

  /**
   * Forms batches from the discrete events since the last flush and the coalescer's deltas,
   * with watermark host.now(), and sends them, all at once (a split flush under way is
   * completed first). Without events, a batch (a heartbeat) is formed only when `force` is
   * set or heartbeatMs passed since the last one, and only if the watermark advanced. Under
   * backpressure (outbox over its bound) deltas stay in the coalescer, which keeps only the
   * latest state per player, and discrete events go to the spill file.
   */
  flush(opts: { force?: boolean } = {}): void {
    if (this.stopped) return;
    const now = this.now();
    if (now === undefined) return;
    this.shipper.flushNow(now, opts.force ?? false);
  }

  /**
   * The timer's flush: the same as flush(), split into slices of at most flushSliceEvents
   * events on successive event-loop turns (the first runs now).
   */
  flushSliced(): void {
    if (this.stopped) return;
    this.shipper.flushSliced();
  }

  /** True while a split flush (flushSliced) is under way. */
  get flushing(): boolean {
    return this.shipper.flushing;
  }

  /** Resolves when every batch formed so far is acked and the spill file was sent to its end. */
  drain(): Promise<void> {
    return this.shipper.drain();
  }

  /** Resolves at once unless the outbox is over its bound; then when it is back under it. */
  waitForCapacity(): Promise<void> {
    return this.outbox.waitForCapacity();
  }

  /** The largest `end` of the WindowClosed messages received for `hunt`. */
  closedThrough(hunt: string): number | undefined {
    return this.windows.closedThrough(hunt);
  }

  /** Resolves when closedThrough(hunt) >= end; rejects if the plugin stops first. */
  waitClosed(hunt: string, end: number): Promise<void> {
    return this.windows.wait(hunt, end);
  }

  /** Every prize in the ledger: granted, or held for an offline player ('pending'). */
  prizes(): PrizeView[] {
    return this.ledger.records().map((r) => ({
      hunt: r.hunt,
      reason: r.reason,
      player: r.player,
      server: r.server,
      item: r.item,
      count: r.count,
      status: r.status === 'granted' ? 'granted' : 'pending',
    }));
  }

  stats(): PluginStats {
    this.refreshStats();
    return { ...this.s };
  }

  /**
   * Final flush, waits up to `timeoutMs` for acks (and prizes in progress), closes the link
   * and the ledger, and leaves every discrete event not acked in the spill file, which the
   * next start sends again; resolves with what was left.
   */
  stop(timeoutMs = 5000): Promise<StopReport> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<StopReport> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.signals?.remove();
    this.signals = undefined;
    if (!this.stopped) this.flush({ force: true });
    this.stopped = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([this.shipper.drain().then(() => 'drained' as const, () => 'closed' as const), timeout]);
    clearTimeout(timer);
    this.shipper.cancel();
    await this.link.close();
    // No new prize work can arrive now; let a grant in progress finish its append, since
    // closing the ledger under it would lose the record of an item already given.
    let queueTimer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      this.prizeWork.then(() => true),
      new Promise<false>((resolve) => (queueTimer = setTimeout(() => resolve(false), Math.max(timeoutMs, PRIZE_QUEUE_STOP_MS)))),
    ]);
    clearTimeout(queueTimer);
    if (settled) await this.ledger.close();
    else log.error({ server: this.serverId, file: this.ledger.file }, 'a prize append did not finish while stopping; leaving the ledger open');
    const stopped = new CairnError(ErrorCode.Internal, `plugin ${this.serverId} stopped`);
    const report = leaveInSpill(this.spill, this.outbox, outcome === 'drained', { server: this.serverId, epoch: this.epoch });
    this.outbox.close(stopped);
    this.windows.close(stopped);
    this.refreshStats();
    this.syncMetrics();
    return report;
  }

  /** Stamps a discrete event with its identity (epoch, per-epoch counter) and queues it for the next flush. */
  private queueEvent(draft: EventDraft): void {
    const ev = { ...draft, e: this.epoch, n: ++this.n } as DiscreteEvent;
    this.shipper.queue(ev);
  }

  /**
   * Prize work runs in groups, one group at a time, in arrival order (stream order per
   * server): everything queued when a group starts is in it, so what arrives during one
   * group's fsync forms the next (group commit). The first group starts a microtask later,
   * so every frame of one socket read (ws emits them synchronously) is in it.
   */
  private queuePrizeWork(work: PrizeWork): void {
    this.prizeQueue.push(work);
    if (this.prizeDraining) return;
    this.prizeDraining = true;
    this.prizeWork = this.drainPrizeWork();
  }

  private async drainPrizeWork(): Promise<void> {
    await Promise.resolve();
    try {
      while (this.prizeQueue.length > 0) {
        const group = this.prizeQueue.splice(0, MAX_PRIZE_GROUP);
        try {
          await this.runPrizeGroup(group);
        } catch (err) {
          log.error({ err: (err as Error).message, server: this.serverId, messages: group.length }, 'prize handling failed; nothing of the group is acked, the gateway will deliver it again');
        }
      }
    } finally {
      this.prizeDraining = false;
    }
  }

  /**
   * Decides every prize of the group (giving items to online players), records the group
   * with one append and one fsync, then acks all of it in one PrizeAck and reports it in
   * order. A window-closed is reported only here, after the commit, so every prize delivered
   * before it (in this group or an earlier one) is durable by then; if the commit fails,
   * nothing of the group is acked or reported.
   */
  private async runPrizeGroup(group: PrizeWork[]): Promise<void> {
    const g = this.ledger.group();
    const outcomes: Array<PrizeOutcome | number> = [];
    for (const work of group) {
      if (work.k === 'prize') outcomes.push(g.prize(work.p, this.serverId));
      else if (work.k === 'join') outcomes.push(g.grantHeld(work.player));
      else outcomes.push(0);
    }
    await g.commit();
    // Only now is every prize of the group durable in the ledger.
    const ids: string[] = [];
    for (const work of group) if (work.k !== 'join') ids.push(work.k === 'prize' ? work.p.id : work.w.id);
    if (ids.length > 0) this.link.sendPrizeAck(ids);
    for (let i = 0; i < group.length; i++) {
      const work = group[i]!;
      const outcome = outcomes[i]!;
      if (work.k === 'prize') {
        const p = work.p;
        if (outcome === 'held') this.metrics.prizeHeld();
        log.debug({ hunt: p.hunt, reason: p.reason, player: p.player, outcome }, 'prize');
        this.emitSafely('prize', { ...p, outcome });
      } else if (work.k === 'window-closed') {
        const w = work.w;
        this.windows.record(w.hunt, w.end);
        this.emitSafely('window-closed', { hunt: w.hunt, start: w.start, end: w.end } satisfies WindowClosedInfo);
      } else if (typeof outcome === 'number' && outcome > 0) {
        log.info({ player: work.player, granted: outcome }, 'granted held prizes on join');
      }
    }
  }

  /** A listener that throws must not keep the rest of a group from being reported. */
  private emitSafely(event: 'prize' | 'window-closed', arg: unknown): void {
    try {
      this.emit(event, arg);
    } catch (err) {
      log.error({ err: (err as Error).message, event, server: this.serverId }, 'a listener threw');
    }
  }

  /** The host's time, or undefined (logged) when it is not a finite number. */
  private now(): number | undefined {
    const now = this.host.now();
    if (Number.isFinite(now)) return now;
    log.error({ now }, 'host.now() is not a finite number; flush skipped');
    return undefined;
  }

  private refreshStats(): void {
    const ls = this.link.stats;
    const c = this.shipper.counts;
    this.s.eventsSent = c.discrete;
    this.s.deltasSent = c.deltas;
    this.s.batchesFormed = c.batches;
    this.s.spilledEvents = c.spilled;
    this.s.spillPending = this.spill.unreadEvents;
    this.s.spillBytes = this.spill.bytes;
    this.s.batchesSent = ls.batchesSent;
    this.s.bytesSent = ls.bytesSent;
    this.s.acks = ls.acks;
    this.s.reconnects = ls.reconnects;
    this.s.prizesGranted = this.ledger.granted;
    this.s.prizesHeld = this.ledger.heldNow;
    this.s.deltasMerged = this.outbox.merged;
    this.s.outboxBytes = this.outbox.bytes;
    this.s.outboxBatches = this.outbox.size;
    this.s.discretePending = this.outbox.discretePending;
  }

  private syncMetrics(): void {
    this.refreshStats();
    this.metrics.sync(this.s);
  }

  private bad(sample: unknown, why: string): void {
    const n = ++this.s.badSamples;
    // The first few, then one in a thousand: a broken host must not flood the log.
    if (n <= 10 || n % 1000 === 0) log.warn({ why, sample: safePreview(sample), count: n }, 'bad sample ignored');
  }

  private late(sample: Sample): void {
    this.s.lateSamples++;
    if (!this.warnedLate) {
      this.warnedLate = true;
      log.warn({ t: sample.t, watermark: this.shipper.claimedWatermark, type: sample.type }, 'sample at or before a watermark already sent; the host must flush only up to times it has fed (counted in lateSamples)');
    }
  }
}

function safePreview(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 200) ?? String(v);
  } catch {
    return String(v);
  }
}
