/**
 * The payload of one user record written by the gateway and read by the worker. A batch
 * becomes one or more user records ("parts", gateway/batch-records.ts), which the
 * gateway aggregates into Kinesis records in the KPL format (kpl-aggregation.ts); the
 * worker deaggregates, and also reads a plain Kinesis record holding one EventRecord.
 * Each part carries the batch's idempotency key (server, epoch, seq, part) and the part
 * count, so the worker can tell when a batch is complete and drop duplicates the gateway
 * could not avoid. Every part carries the batch's watermark; the worker applies it only
 * once every part of the batch, and every earlier batch, has been stored.
 *
 * Version 2 (wire protocol 2): `ev` holds discrete events only; a batch's coalesced
 * deltas travel as its moves block `mv` (protocol/moves.ts) in one part, as the plugin
 * sent it. Readers that need positions decode it with protocol's `decodeMoves`.
 *
 * Every check a reader makes on a record lives here (`decodeRecord`): the bytes (one
 * scan, protocol/msgpack-scan.ts), the header, and each event (protocol's `checkEvent`,
 * the gateway's own validator); the worker only routes what passed.
 */
import { checkEvent, decodeScanned, encode, ID_RE, ID_PATTERN, type DiscreteEvent } from '../../protocol/index.js';
import { binBounds, MsgpackScanError, scanMap, type MapLayout } from '../../protocol/msgpack-scan.js';
import { KINESIS_MAX_RECORD_BYTES } from '../../protocol/limits.js';
import { aggregateProblem, isAggregated } from './kpl-aggregation.js';

export const RECORD_FORMAT_VERSION = 2;

export interface EventRecord {
  v: typeof RECORD_FORMAT_VERSION;
  /** server id */
  s: string;
  /** plugin epoch */
  e: number;
  /** batch seq */
  q: number;
  /** part index, 0-based */
  pt: number;
  /** number of parts of this batch */
  np: number;
  /** the batch's watermark: every event of this server with t <= wm is in this batch or an earlier one */
  wm: number;
  ev: DiscreteEvent[];
  /** the batch's moves block, in one of its parts (not decoded by the worker) */
  mv?: Uint8Array;
}

/** A record as a reader gets it: the events that passed their checks, and how many did not. */
export interface ReadRecord extends EventRecord {
  /** events refused by checkEvent, with the first reason */
  badEvents: number;
  badReason: string | undefined;
}

export function encodeRecord(r: EventRecord): Buffer {
  return encode(r);
}

const isInt = (v: unknown, min: number): v is number => Number.isSafeInteger(v) && (v as number) >= min;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Checks the record header; returns what is wrong, or undefined. */
export function recordProblem(r: Pick<EventRecord, 's' | 'e' | 'q' | 'pt' | 'np' | 'wm'>): string | undefined {
  if (typeof r.s !== 'string' || !ID_RE.test(r.s)) return `s: server id ${JSON.stringify(r.s)} does not match ${ID_PATTERN}`;
  if (!isInt(r.e, 0)) return 'e: epoch must be a non-negative integer';
  if (!isInt(r.q, 1)) return 'q: batch seq must be a positive integer';
  if (!isInt(r.np, 1)) return 'np: part count must be a positive integer';
  if (!isInt(r.pt, 0) || r.pt >= r.np) return `pt: part index must be an integer from 0 to ${r.np - 1}`;
  if (!isNum(r.wm)) return 'wm: watermark must be a number';
  return undefined;
}

/**
 * Reads one user record: throws an Error naming what is wrong with the record as a whole
 * (bytes, version, header); events that fail their checks are left out and counted. The
 * moves block is located, not decoded.
 */
export function decodeRecord(bytes: Uint8Array): ReadRecord {
  // Deaggregation passes on an aggregated record it cannot read; say why instead of "not msgpack".
  if (isAggregated(bytes)) throw new Error(`KPL aggregated record that cannot be deaggregated: ${aggregateProblem(bytes) ?? 'it was not deaggregated'}`);
  if (bytes.byteLength > KINESIS_MAX_RECORD_BYTES) throw new Error(`record of ${bytes.byteLength} bytes is over Kinesis's ${KINESIS_MAX_RECORD_BYTES}`);
  let layout: MapLayout;
  try {
    layout = scanMap(bytes, 'ev');
  } catch (err) {
    if (err instanceof MsgpackScanError) throw new Error(`not a Cairn event record: ${err.message}`);
    throw err;
  }
  const head: Record<string, unknown> = {};
  let mv: Uint8Array | undefined;
  for (const en of layout.entries) {
    if (en.key === 'ev') continue;
    if (en.key === 'mv') {
      const b = binBounds(bytes, en.start, en.end);
      if (!b) throw new Error('mv: the moves block must be binary');
      mv = bytes.subarray(b[0], b[1]);
      continue;
    }
    head[en.key] = decodeScanned(bytes.subarray(en.start, en.end));
  }
  if (head.v !== RECORD_FORMAT_VERSION) throw new Error(`not a Cairn event record of version ${RECORD_FORMAT_VERSION} (v: ${JSON.stringify(head.v)})`);
  if (!layout.elements) throw new Error('ev: must be an array');
  const problem = recordProblem(head as unknown as EventRecord);
  if (problem) throw new Error(problem);
  const ev: DiscreteEvent[] = [];
  let badEvents = 0;
  let badReason: string | undefined;
  // One decode of the whole array: the scan refused duplicate keys, so element j is the bytes at layout.elements[j].
  const evEntry = layout.entries.find((en) => en.key === 'ev')!;
  const decoded = decodeScanned(bytes.subarray(evEntry.start, evEntry.end)) as unknown[];
  for (let j = 0; j < decoded.length; j++) {
    try {
      const e = decoded[j];
      checkEvent(e, `ev[${j}]`);
      ev.push(e);
    } catch (err) {
      badEvents++;
      badReason ??= (err as Error).message;
    }
  }
  const r = { ...(head as unknown as EventRecord), ev, badEvents, badReason };
  if (mv) r.mv = mv;
  return r;
}

/** Idempotency key of a record, as it appears in logs and duplicate counters. */
export function recordKey(r: Pick<EventRecord, 's' | 'e' | 'q' | 'pt'>): string {
  return `${r.s}/${r.e}/${r.q}/${r.pt}`;
}
