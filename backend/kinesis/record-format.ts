/**
 * The payload of one user record written by the gateway and read by the worker. A batch
 * becomes one or more user records ("parts", gateway/batch-records.ts), which the
 * gateway aggregates into Kinesis records in the KPL format (gateway/kpl-aggregation.ts);
 * the worker deaggregates, and also reads a plain Kinesis record holding one EventRecord.
 * Each part carries the batch's idempotency key (server, epoch, seq, part) and the part
 * count, so the worker can tell when a batch is complete and drop duplicates the gateway
 * could not avoid. Every part carries the batch's watermark; the worker applies it only
 * once every part of the batch, and every earlier batch, has been stored.
 */
import { encode, decodeRaw, type WireEvent } from '../../protocol/index.js';
import { KINESIS_MAX_RECORD_BYTES } from '../../protocol/limits.js';
import { aggregateProblem, isAggregated } from './kpl-aggregation.js';

export const RECORD_FORMAT_VERSION = 1;

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
  ev: WireEvent[];
}

export function encodeRecord(r: EventRecord): Buffer {
  return encode(r);
}

export function decodeRecord(bytes: Uint8Array): EventRecord {
  // Deaggregation passes on an aggregated record it cannot read; say why instead of "not msgpack".
  if (isAggregated(bytes)) throw new Error(`KPL aggregated record that cannot be deaggregated: ${aggregateProblem(bytes) ?? 'it was not deaggregated'}`);
  const r = decodeRaw(bytes, KINESIS_MAX_RECORD_BYTES) as EventRecord;
  if (!r || typeof r !== 'object' || r.v !== RECORD_FORMAT_VERSION || typeof r.s !== 'string' || !Array.isArray(r.ev)) {
    throw new Error('not a Cairn event record (version 1)');
  }
  return r;
}

/** Idempotency key of a record, as it appears in logs and duplicate counters. */
export function recordKey(r: Pick<EventRecord, 's' | 'e' | 'q' | 'pt'>): string {
  return `${r.s}/${r.e}/${r.q}/${r.pt}`;
}
