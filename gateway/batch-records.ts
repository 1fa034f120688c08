/**
 * A batch becomes user records ("parts"): its events grouped by partition bucket
 * (gateway/partition-keys.ts), each group split, in order, into parts that fit one
 * aggregated Kinesis record of the target size. Every part is an EventRecord
 * (gateway/record-format.ts) carrying the batch's idempotency key (server, epoch, seq,
 * part), the part count `np` over all the batch's parts, and the watermark; the worker
 * counts parts to know when a batch is complete.
 *
 * The split is a pure function of the batch and the configuration (bucket count, record
 * target): a batch written twice (a resend racing its first write, on any gateway
 * instance configured alike) gives the same parts byte for byte, so the worker never
 * completes a batch from parts of two different splits.
 *
 * Events are not encoded again: each event's bytes are the very bytes the codec validated
 * in the batch frame (protocol/codec.ts `batchLayout`, one scan of the frame), copied, so
 * sizes are exact and a part is the encoded envelope with its `ev` array header followed
 * by its events' bytes. The batch's moves block goes, as it came, into one part of the
 * server's bucket (after `ev`, as `mv`). msgpack encodes an array element the same
 * wherever it sits, so a part equals `encodeRecord(part)` (pinned by a test). Without a
 * frame (tests, tools) each event is encoded once.
 */
import { batchLayout, CloseCode, ErrorCode, ProtocolError, encode, type BatchFrame, type WireEvent } from '../protocol/index.js';
import { allocPart, arrayHeaderSize, binHeaderSize, envelopeSize, MV_KEY_BYTES, writeArrayHeader, writeEnvelope, writeMovesHead } from './part-bytes.js';
import { KINESIS_MAX_RECORD_BYTES, KINESIS_PUT_PAYLOAD_UNIT_BYTES } from '../protocol/limits.js';
import { AggregateBuilder, KPL_FRAMING_BYTES } from '../backend/kinesis/kpl-aggregation.js';
import { bucketer, PartitionScheme } from '../backend/kinesis/partition-keys.js';
import { recordKey } from '../backend/kinesis/record-format.js';

/** One user record (part of a batch), ready to be aggregated into a Kinesis record of its bucket. */
export interface UserRecord {
  /** Idempotency key (server/epoch/seq/part), as recordKey() gives it. */
  key: string;
  bucket: number;
  /** The EventRecord, msgpack-encoded. */
  data: Buffer;
}

export interface BatchIdentity {
  server: string;
  epoch: number;
  seq: number;
  wm: number;
}

export interface PartOptions {
  scheme: PartitionScheme;
  /** Target size of an aggregated Kinesis record (data + partition key). @default 25 KiB */
  targetBytes?: number;
  /** The batch frame the events were decoded from: their bytes (and its moves block) are taken from it. */
  frame?: Buffer | undefined;
  /** A moves block to carry when there is no frame (tests, tools). */
  moves?: Uint8Array | undefined;
}

/** Smallest record target we accept: below it the envelope would dominate every record. */
export const MIN_RECORD_TARGET_BYTES = 1024;

/** Checks a record target (1 KiB to 1 MiB) and returns it. */
export function checkRecordTarget(bytes: number): number {
  if (!Number.isInteger(bytes) || bytes < MIN_RECORD_TARGET_BYTES || bytes > KINESIS_MAX_RECORD_BYTES) {
    throw new RangeError(`recordTargetBytes=${bytes}: must be an integer from ${MIN_RECORD_TARGET_BYTES} to ${KINESIS_MAX_RECORD_BYTES} (Kinesis's record limit)`);
  }
  return bytes;
}

/**
 * Largest user record data that still fits, alone, in an aggregated record of
 * `targetBytes` (magic, tables, record framing, MD5 and the outer partition key counted
 * for the longest key and hash key of the scheme).
 */
export function userRecordBudget(targetBytes: number, scheme: PartitionScheme): number {
  let cached = budgets.get(scheme);
  if (!cached) budgets.set(scheme, (cached = new Map()));
  let budget = cached.get(targetBytes);
  if (budget === undefined) cached.set(targetBytes, (budget = computeBudget(targetBytes, scheme)));
  return budget;
}

const budgets = new WeakMap<PartitionScheme, Map<number, number>>();

function computeBudget(targetBytes: number, scheme: PartitionScheme): number {
  let pk = '';
  let ehk = '';
  scheme.keys.forEach((k, b) => {
    if (k.length > pk.length) pk = k;
    if (scheme.hashKeys[b]!.length > ehk.length) ehk = scheme.hashKeys[b]!;
  });
  const probe = new AggregateBuilder();
  const overhead = probe.growth({ partitionKey: pk, explicitHashKey: ehk, data: Buffer.alloc(0) }) + 2 * 4; // varints sized for up to 1 MiB
  return targetBytes - KPL_FRAMING_BYTES - overhead - Buffer.byteLength(pk);
}

/**
 * The events' bytes, as one buffer and [start, end) offsets per event, and the moves
 * block: from the frame when the codec decoded these events from it, else the events
 * encoded once each and laid end to end.
 */
function eventBytes(events: readonly WireEvent[], opts: PartOptions): { buf: Uint8Array; at: number[]; moves: Uint8Array | undefined } {
  const layout = opts.frame ? batchLayout(events) : undefined;
  if (layout && layout.frame === opts.frame) {
    const m = layout.moves;
    return { buf: layout.frame, at: layout.at, moves: m ? layout.frame.subarray(m[0], m[1]) : undefined };
  }
  if (events.some((ev) => ev.k === 'delta')) throw new TypeError('batchToRecords: deltas travel in a moves block (opts.moves), not as events');
  const encoded = events.map((ev) => encode(ev));
  const offsets = new Array<number>(events.length * 2);
  let pos = 0;
  encoded.forEach((b, i) => {
    offsets[2 * i] = pos;
    offsets[2 * i + 1] = pos += b.length;
  });
  return { buf: Buffer.concat(encoded, pos), at: offsets, moves: opts.moves };
}

interface Part {
  bucket: number;
  /** indexes of the part's events, in batch order */
  idx: number[];
  from: number;
  to: number;
  /** bytes of its events (and of its moves block) */
  size: number;
  /** carries the batch's moves block */
  moves: boolean;
}

/**
 * The user records of a batch. An empty batch (a heartbeat) is still one record, in the
 * server's bucket: it carries the watermark. A single event too big for a part under the
 * target gets a part of its own (up to Kinesis's 1 MiB record limit); beyond that the
 * batch cannot be written at all and a ProtocolError says so.
 */
export function batchToRecords(id: BatchIdentity, events: readonly WireEvent[], opts: PartOptions): UserRecord[] {
  const { buf, at, moves } = eventBytes(events, opts);
  const bucketOfEvent = bucketer(id.server, opts.scheme);
  return recordsOf(id, buf, at, moves, events.length, (i) => bucketOfEvent(events[i]!), opts);
}

/**
 * The user records of a batch frame the gateway validated (protocol/batch-frame.ts): the
 * same as batchToRecords of its decoded events, without decoding them (with one bucket,
 * as PARTITION_SCHEME has, no event is looked at).
 */
export function frameToRecords(id: BatchIdentity, batch: BatchFrame, opts: Omit<PartOptions, 'frame' | 'moves'>): UserRecord[] {
  const { frame, at } = batch.layout;
  const one = opts.scheme.buckets === 1;
  const events = one ? undefined : batch.events();
  const bucketOfEvent = bucketer(id.server, opts.scheme);
  return recordsOf(id, frame, at, batch.mv, batch.count, one ? () => 0 : (i) => bucketOfEvent(events![i]!), opts);
}

/** The parts of a batch of `count` events whose bytes are buf[at[2i], at[2i + 1]), event i in bucket bucketOf(i). */
function recordsOf(id: BatchIdentity, buf: Uint8Array, at: readonly number[], moves: Uint8Array | undefined, count: number, bucketOf: (i: number) => number, opts: PartOptions): UserRecord[] {
  const { scheme } = opts;
  const targetBytes = opts.targetBytes ?? KINESIS_PUT_PAYLOAD_UNIT_BYTES;
  const movesBytes = moves ? MV_KEY_BYTES + binHeaderSize(moves.length) + moves.length : 0;
  // Worst-case part framing: envelope with 5-byte pt/np (0xce and 4 bytes, where 0 takes
  // one) and a 5-byte array header.
  const framing = envelopeSize(id, 0, 0) + 2 * 4 + 5;
  const budget = userRecordBudget(targetBytes, scheme) - framing;
  const maxData = userRecordBudget(KINESIS_MAX_RECORD_BYTES, scheme) - framing;

  if (scheme.buckets === 1) {
    // One bucket (PARTITION_SCHEME): the moves block, then every event in order, cut by
    // size alone; the same parts as the grouping below gives, without grouping.
    const cuts: number[] = [];
    let start = moves ? MOVES : 0;
    let size = 0;
    for (let j = start; j < count; j++) {
      const n = j === MOVES ? movesBytes : at[2 * j + 1]! - at[2 * j]!;
      if (j > start && size + n > budget) {
        cuts.push(start, j, size);
        start = j;
        size = 0;
      }
      size += n;
    }
    cuts.push(start, count, size);
    const np = cuts.length / 3;
    const out = new Array<UserRecord>(np);
    for (let pt = 0; pt < np; pt++) {
      const from = cuts[3 * pt]!;
      const withMoves = from === MOVES;
      out[pt] = part(id, pt, np, 0, buf, at, withMoves ? moves : undefined, withMoves ? 0 : from, cuts[3 * pt + 1]!, cuts[3 * pt + 2]!, maxData, from);
    }
    return out;
  }

  // Group event indexes by bucket, buckets in order of first appearance.
  const groups: (number[] | undefined)[] = new Array(scheme.buckets);
  const order: number[] = [];
  for (let i = 0; i < count; i++) {
    const b = bucketOf(i);
    const g = groups[b];
    if (g) g.push(i);
    else {
      groups[b] = [i];
      order.push(b);
    }
  }
  // The moves block rides in the server's bucket, as its first item (index -1); an empty
  // batch (a heartbeat) is still one record there, for the watermark.
  const serverBucket = scheme.ofServer(id.server);
  if (moves || order.length === 0) {
    const g = groups[serverBucket];
    if (!g) {
      groups[serverBucket] = moves ? [MOVES] : [];
      order.push(serverBucket);
    } else if (moves) g.unshift(MOVES);
  }
  const parts: Part[] = [];
  for (const bucket of order) {
    const idx = groups[bucket]!;
    let start = 0;
    let size = 0;
    for (let j = 0; j < idx.length; j++) {
      const k = idx[j]!;
      const n = k === MOVES ? movesBytes : at[2 * k + 1]! - at[2 * k]!;
      if (j > start && size + n > budget) {
        parts.push({ bucket, idx, from: start, to: j, size, moves: idx[start] === MOVES });
        start = j;
        size = 0;
      }
      size += n;
    }
    parts.push({ bucket, idx, from: start, to: idx.length, size, moves: idx[start] === MOVES });
  }
  const np = parts.length;
  return parts.map(({ bucket, idx, from, to, size, moves: withMoves }, pt) => {
    const first = withMoves ? from + 1 : from;
    return part(id, pt, np, bucket, buf, at, withMoves ? moves : undefined, first, to, size, maxData, idx[from]!, idx);
  });
}

/**
 * One part: its envelope, the events idx[first..to) (or first..to with no idx), and the
 * moves block when given. `size`: bytes of its events and moves block; `lead`: the index
 * of its first item, for the error when it is too big.
 */
function part(
  id: BatchIdentity,
  pt: number,
  np: number,
  bucket: number,
  buf: Uint8Array,
  at: readonly number[],
  moves: Uint8Array | undefined,
  first: number,
  to: number,
  size: number,
  maxData: number,
  lead: number,
  idx?: readonly number[],
): UserRecord {
  if (size > maxData) {
    const what = moves && to - first === 0 ? 'its moves block' : `event ${lead}`;
    throw new ProtocolError(
      ErrorCode.FrameTooLarge,
      CloseCode.FrameTooLarge,
      `batch ${id.seq}: ${what} alone makes a record of ${size} bytes, over Kinesis's ${KINESIS_MAX_RECORD_BYTES}-byte record limit`,
    );
  }
  const events = to - first;
  const data = allocPart(envelopeSize(id, pt, np) + arrayHeaderSize(events) + size);
  let pos = writeArrayHeader(data, writeEnvelope(data, 0, id, pt, np, moves !== undefined), events);
  // Events next to each other in `buf` (all of a frame's, with one bucket) go in one copy.
  let runStart = 0;
  let runEnd = -1;
  for (let j = first; j < to; j++) {
    const k = idx ? idx[j]! : j;
    const s = at[2 * k]!;
    if (s !== runEnd) {
      if (runEnd >= 0) pos += copyRange(buf, runStart, runEnd, data, pos);
      runStart = s;
    }
    runEnd = at[2 * k + 1]!;
  }
  if (runEnd >= 0) pos += copyRange(buf, runStart, runEnd, data, pos);
  if (moves) {
    pos = writeMovesHead(data, pos, moves.length);
    data.set(moves, pos);
    pos += moves.length;
  }
  if (pos !== data.length) throw new Error(`part ${pt} of batch ${id.seq}: wrote ${pos} of ${data.length} bytes`);
  return { key: recordKey({ s: id.server, e: id.epoch, q: id.seq, pt }), bucket, data };
}

/** Index of the moves block among a bucket's items. */
const MOVES = -1;

/** Copies buf[start, end) into `to` at `pos`; returns the byte count. */
function copyRange(buf: Uint8Array, start: number, end: number, to: Buffer, pos: number): number {
  to.set(buf.subarray(start, end), pos);
  return end - start;
}
