/**
 * The plugin's options: one TypeBox schema is both the TypeScript type a host writes
 * against and the check `CairnPlugin.start` runs once, with defaults filled in and unknown
 * options refused (a misspelt option would otherwise be ignored without a word). Each
 * property's TSDoc is what an editor shows a host author.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import type { Registry } from 'prom-client';
import { CairnError, ErrorCode, ID_PATTERN, MAX_BATCH_EVENTS, MAX_FRAME_BYTES, type HuntRules } from '../protocol/index.js';
import type { Host } from './host.js';
import { DEFAULT_BATCH_MAX_BYTES, DEFAULT_BATCH_MAX_EVENTS, DEFAULT_OUTBOX_MAX_BYTES } from './outbox.js';
import type { LedgerIo } from './prize-ledger.js';
import { DEFAULT_SPILL_MAX_BYTES } from './spill/spill-file.js';

/** A value JSON Schema cannot describe (a function, a class instance), checked by `typeof` only. */
const opaque = <T>(kind: 'function' | 'object', description: string) => Type.Unsafe<T>({ typeof: kind, description });
const positive = (dflt?: number) => Type.Number({ exclusiveMinimum: 0, ...(dflt === undefined ? {} : { default: dflt }) });

/** Reconnect and connection tuning of the link (tests shorten these). */
export const LinkTuningSchema = Type.Object(
  {
    /** First reconnect delay (ms). @default 100 */
    backoffBaseMs: Type.Optional(positive()),
    /** Longest reconnect delay (ms); also the delay after a close a retry cannot fix. @default 5000 */
    backoffCapMs: Type.Optional(positive()),
    /** A connection that gets no welcome this long (ms) after opening is dropped. @default 10000 */
    welcomeTimeoutMs: Type.Optional(positive()),
    /** WebSocket ping period (ms); a connection that missed a whole period's pong is dropped. @default 15000 */
    pingIntervalMs: Type.Optional(positive()),
    /** Encoded bytes written and not yet acked on one connection. @default 8 MiB */
    maxInFlightBytes: Type.Optional(positive()),
  },
  { additionalProperties: false },
);
export type LinkTuning = Static<typeof LinkTuningSchema>;

export const PluginOptionsSchema = Type.Object(
  {
    /** The game, as the plugin sees it; `host.serverId` must match ID_PATTERN. (required, no default) */
    host: Type.Unsafe<Host>(Type.Object({ serverId: Type.String({ pattern: ID_PATTERN }) })),
    /** The hunts this server runs; each is checked against the hunt rules schema. (required, no default) */
    hunts: Type.Unsafe<HuntRules[]>(Type.Array(Type.Object({}))),
    /** Folder `hunt reload` re-reads (*.json, one hunt each). @default undefined: reload is refused */
    huntsDir: Type.Optional(Type.String({ minLength: 1 })),
    /** Folder for the epoch, the prize ledger and the spill file; one per server. Created when missing. (required, no default) */
    dataDir: Type.String({ minLength: 1 }),
    /**
     * The gateway, e.g. ws://127.0.0.1:7070, or several, as a list or comma-separated
     * (ws://a:7070,ws://b:7070): the plugin uses the first and moves to the next when the
     * one it uses is down, keeping its epoch and seqs (plugin/link.ts). (required, no default)
     */
    gatewayUrl: Type.Union(
      [
        Type.String({ pattern: '^\\s*wss?://[^,\\s]+(\\s*,\\s*wss?://[^,\\s]+)*\\s*$' }),
        Type.Array(Type.String({ pattern: '^wss?://[^,\\s]+$' }), { minItems: 1 }),
      ],
      { description: 'a ws:// or wss:// URL, or several (a list, or comma-separated)' },
    ),
    /** The shared secret the gateway checks in hello. (required, no default) */
    token: Type.String(),
    /** How often the timer flushes (ms). @default 250 */
    flushIntervalMs: Type.Optional(positive(250)),
    /**
     * Most events one slice of a timer flush handles; a flush of more runs in slices on
     * successive event-loop turns, so it never holds the game's tick for long. 128 deltas take
     * ~0.06 ms to emit, encode and send (bench/plugin-hot-path). @default 128
     */
    flushSliceEvents: Type.Optional(Type.Integer({ minimum: 1, default: 128 })),
    /**
     * A slice also ends once it has run this long (ms), whatever its count: on a busy game
     * server (GC, a loaded machine) 128 events can take several times the benchmark's figure,
     * and the game's tick waits for the slice. The batch of the slice is still encoded and
     * sent after the budget ran out, so a slice takes about twice this at most. @default 0.5
     */
    flushSliceMs: Type.Optional(positive(0.5)),
    /** Called with the duration (ms) of every flush slice: for profilers and benchmarks. @default undefined */
    onFlushPause: Type.Optional(opaque<(ms: number) => void>('function', 'a function (ms) => void')),
    /**
     * Standalone use: stop() on SIGTERM or SIGINT (flush, wait for acks up to `timeoutMs`,
     * default 5000, report the spill), then let the signal take its course. A host with its own
     * shutdown leaves this off. @default false
     */
    stopOnSignals: Type.Optional(Type.Union([Type.Boolean(), Type.Object({ timeoutMs: positive() }, { additionalProperties: false })], { default: false })),
    /** An idle plugin still sends an (empty) batch this often (ms) so its watermark advances. @default 1000 */
    heartbeatMs: Type.Optional(positive(1000)),
    /** Flush on a wall-clock timer; the replay passes false and calls flush() itself on trace time. @default true */
    autoFlush: Type.Optional(Type.Boolean({ default: true })),
    /** Most events in one batch (at most MAX_BATCH_EVENTS). @default 500 */
    batchMaxEvents: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BATCH_EVENTS, default: DEFAULT_BATCH_MAX_EVENTS })),
    /** Encoded bytes per batch (below MAX_FRAME_BYTES). @default 256 KiB */
    batchMaxBytes: Type.Optional(Type.Number({ minimum: 1024, exclusiveMaximum: MAX_FRAME_BYTES, default: DEFAULT_BATCH_MAX_BYTES })),
    /** Bound on unacked encoded bytes; past it deltas merge, then discrete events spill to a file. @default 64 MiB */
    outboxMaxBytes: Type.Optional(positive(DEFAULT_OUTBOX_MAX_BYTES)),
    /**
     * Cap of the spill file (bytes). Past it (or when the disk refuses an append) only start,
     * stop and rules events are kept; entries, joins and leaves are dropped and counted
     * (cairn_plugin_spill_dropped_events_total). @default 512 MiB
     */
    spillMaxBytes: Type.Optional(Type.Number({ minimum: 4096, default: DEFAULT_SPILL_MAX_BYTES })),
    /**
     * Records the samples the plugin accepts as a trace file (docs/trace-format.md), for
     * `cairn replay` and `cairn replay --compare`; rotated at `maxBytes` (file.1 ... file.<keep>).
     * Costs one JSON.stringify per sample and a buffered write (plugin/trace-recorder.ts).
     * @default undefined: off
     */
    recordTrace: Type.Optional(
      Type.Object(
        {
          /** The trace file; an earlier recording there is rotated away at start. */
          file: Type.String({ minLength: 1 }),
          /** Rotate once the file is this big (bytes). @default 64 MiB */
          maxBytes: Type.Optional(Type.Number({ minimum: 4096 })),
          /** Rotated files kept. @default 3 */
          keep: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The prom-client registry the plugin's metrics go to. @default a new Registry of the plugin's own */
    registry: Type.Optional(opaque<Registry>('object', 'a prom-client Registry')),
    /** Position quantization. @default { quantum: 0.05, minChange: 0.05 } */
    coalescer: Type.Optional(
      Type.Object(
        {
          /** Grid positions are rounded to, in blocks. @default 0.05 */
          quantum: Type.Optional(positive()),
          /** A position field is re-sent only when its quantized value moved at least this far (blocks). @default 0.05 */
          minChange: Type.Optional(Type.Number({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Reconnect and connection tuning of the link. @default each field's own default */
    link: Type.Optional(LinkTuningSchema),
    /** How the prize ledger writes and fsyncs: for tests (count, stall or fail appends) and benchmarks. @default nodeLedgerIo */
    ledgerIo: Type.Optional(opaque<LedgerIo>('object', 'an object with write and sync')),
  },
  { additionalProperties: false },
);

export type PluginOptions = Static<typeof PluginOptionsSchema>;

type Defaulted = 'flushIntervalMs' | 'flushSliceEvents' | 'flushSliceMs' | 'stopOnSignals' | 'heartbeatMs' | 'autoFlush' | 'batchMaxEvents' | 'batchMaxBytes' | 'outboxMaxBytes' | 'spillMaxBytes';
/** The options after the check: every default filled in, frozen. */
export type ResolvedOptions = Readonly<Omit<PluginOptions, Defaulted> & Required<Pick<PluginOptions, Defaulted>>>;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
ajv.addKeyword({ keyword: 'typeof', schemaType: 'string', validate: (kind: string, data: unknown) => typeof data === kind && data !== null, errors: false });
const validate = ajv.compile<PluginOptions>(PluginOptionsSchema as TSchema);

/** Plain-object options the plugin copies before filling in defaults (the caller's stay untouched). */
const NESTED = ['coalescer', 'link', 'stopOnSignals', 'recordTrace'] as const;

/**
 * Checks the options once; returns a frozen copy with the defaults filled in. Throws
 * CairnError(ConfigInvalid) naming every option that is wrong.
 */
export function resolveOptions(options: PluginOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new CairnError(ErrorCode.ConfigInvalid, 'plugin options: must be an object');
  const copy: Record<string, unknown> = { ...options };
  for (const key of NESTED) {
    const v = copy[key];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) copy[key] = Object.freeze({ ...v });
  }
  if (!validate(copy)) {
    const errors = validate.errors ?? [];
    // A union names what it wants once: its branches' own complaints would only repeat it.
    const unions = errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath);
    const problems = errors.filter((e) => e.keyword === 'anyOf' || !unions.some((u) => e.instancePath === u || e.instancePath.startsWith(`${u}/`))).map(describe);
    throw new CairnError(ErrorCode.ConfigInvalid, `plugin options: ${[...new Set(problems)].join('; ')}`);
  }
  return Object.freeze(copy) as unknown as ResolvedOptions;
}

/** "flushSliceEvents: must be >= 1, got 0" */
function describe(e: ErrorObject): string {
  const path = e.instancePath.slice(1).replaceAll('/', '.');
  if (e.keyword === 'additionalProperties') {
    const name = (e.params as { additionalProperty: string }).additionalProperty;
    return `${path ? `${path}.` : ''}${name}: unknown option`;
  }
  if (e.keyword === 'required') return `${path ? `${path}.` : ''}${(e.params as { missingProperty: string }).missingProperty}: required`;
  const described = (e.parentSchema as { description?: string }).description;
  const what = e.keyword === 'typeof' ? `must be ${described ?? String(e.schema)}` : e.keyword === 'anyOf' && described ? `must be ${described}` : e.message;
  return `${path || 'options'}: ${what}, got ${preview(e.data)}`;
}

function preview(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return JSON.stringify(v) ?? String(v);
}
