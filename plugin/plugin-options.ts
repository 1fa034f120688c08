/**
 * The plugin's options: what a host passes to `CairnPlugin.start`, and their check.
 */
import type { Registry } from 'prom-client';
import { CairnError, ErrorCode, ID_PATTERN, ID_RE, type HuntRules } from '../protocol/index.js';
import type { CoalescerOptions } from './coalescer.js';
import type { Host } from './host.js';
import type { LinkOptions } from './link.js';
import type { LedgerIo } from './prize-ledger.js';

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

/** 128 deltas take ~0.06 ms to emit, encode and send (bench/plugin-hot-path): slices stay far under the 1 ms pause goal even with GC and a busy machine. */
const DEFAULT_FLUSH_SLICE_EVENTS = 128;

/** The options with the plugin's own defaults filled in. */
export interface ResolvedOptions extends PluginOptions {
  flushIntervalMs: number;
  flushSliceEvents: number;
  heartbeatMs: number;
  autoFlush: boolean;
}

/** Checks the options; throws CairnError(ConfigInvalid) naming the option. */
export function resolveOptions(opts: PluginOptions): ResolvedOptions {
  const serverId = opts.host.serverId;
  if (typeof serverId !== 'string' || !ID_RE.test(serverId)) {
    throw new CairnError(ErrorCode.ConfigInvalid, `host.serverId ${JSON.stringify(serverId)}: must match ${ID_PATTERN}`);
  }
  if (!/^wss?:\/\//.test(opts.gatewayUrl)) throw new CairnError(ErrorCode.ConfigInvalid, `gatewayUrl ${JSON.stringify(opts.gatewayUrl)}: must be a ws:// or wss:// URL`);
  const flushIntervalMs = opts.flushIntervalMs ?? 250;
  const heartbeatMs = opts.heartbeatMs ?? 1000;
  const flushSliceEvents = opts.flushSliceEvents ?? DEFAULT_FLUSH_SLICE_EVENTS;
  if (!(flushIntervalMs > 0)) throw new CairnError(ErrorCode.ConfigInvalid, `flushIntervalMs must be > 0, got ${flushIntervalMs}`);
  if (!(heartbeatMs > 0)) throw new CairnError(ErrorCode.ConfigInvalid, `heartbeatMs must be > 0, got ${heartbeatMs}`);
  if (!Number.isInteger(flushSliceEvents) || flushSliceEvents < 1) throw new CairnError(ErrorCode.ConfigInvalid, `flushSliceEvents must be a positive integer, got ${flushSliceEvents}`);
  return { ...opts, flushIntervalMs, heartbeatMs, flushSliceEvents, autoFlush: opts.autoFlush ?? true };
}
