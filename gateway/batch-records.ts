/**
 * A batch becomes Kinesis records: its events split, in order, into parts whose record
 * (data blob plus partition key) stays under a target size, each part an EventRecord
 * (gateway/record-format.ts) carrying the batch's idempotency key and watermark.
 *
 * Each event is msgpack-encoded once; a record is the encoded envelope with its `ev`
 * array header followed by the events' bytes. msgpack encodes an array element the same
 * wherever it sits, so the bytes equal `encodeRecord(record)` (pinned by a test) and a
 * batch is encoded once instead of once to measure and once more to send.
 */
import { CloseCode, ErrorCode, ProtocolError, encode, type WireEvent } from '../protocol/index.js';
import { KINESIS_MAX_PARTITION_KEY_CHARS, KINESIS_MAX_RECORD_BYTES, KINESIS_PUT_PAYLOAD_UNIT_BYTES } from '../protocol/limits.js';
import { RECORD_FORMAT_VERSION, recordKey, type EventRecord } from './record-format.js';

/** One record ready for PutRecords. */
export interface OutRecord {
  /** Idempotency key (server/epoch/seq/part), as recordKey() gives it. */
  key: string;
  partitionKey: string;
  data: Buffer;
  /** data bytes + partition key bytes: what counts against Kinesis's per-record and per-call limits. */
  size: number;
}

export interface BatchIdentity {
  server: string;
  epoch: number;
  seq: number;
  wm: number;
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

function arrayHeader(n: number): Buffer {
  if (n < 16) return Buffer.from([0x90 | n]);
  if (n < 0x10000) return Buffer.from([0xdc, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}

/** Envelope bytes of a part without the trailing empty-array byte (0x90) its `ev: []` encodes to. */
function envelope(id: BatchIdentity, pt: number, np: number): Buffer {
  const r: EventRecord = { v: RECORD_FORMAT_VERSION, s: id.server, e: id.epoch, q: id.seq, pt, np, wm: id.wm, ev: [] };
  const b = encode(r);
  return b.subarray(0, b.length - 1);
}

/**
 * The partition key of a part. Kinesis hashes it (MD5) to pick a shard, so distinct
 * keys spread records evenly over shards; the worker does not rely on record order
 * (it reassembles batches by their idempotency key), so no two parts need to share one.
 */
export function partitionKey(id: BatchIdentity, pt: number): string {
  return `${id.server}/${id.epoch}/${id.seq}/${pt}`;
}

/**
 * Splits a batch into records of at most `targetBytes` (data + partition key) each. An
 * empty batch (a heartbeat) is still one record: it carries the watermark. A single event
 * too big for its own record under the target gets a record of its own (up to Kinesis's
 * 1 MiB limit); beyond that the batch cannot be written at all and a ProtocolError says so.
 */
export function batchToRecords(id: BatchIdentity, events: readonly WireEvent[], targetBytes = KINESIS_PUT_PAYLOAD_UNIT_BYTES): OutRecord[] {
  const encoded = events.map((ev) => encode(ev));
  // Worst-case overhead of a part: envelope with 5-byte pt/np, 5-byte array header, longest key.
  const worstPt = 0xffffffff;
  const overhead = envelope(id, worstPt, worstPt).length + 5 + Buffer.byteLength(partitionKey(id, worstPt));
  const slices: [number, number][] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < encoded.length; i++) {
    const n = encoded[i]!.length;
    if (i > start && overhead + bytes + n > targetBytes) {
      slices.push([start, i]);
      start = i;
      bytes = 0;
    }
    bytes += n;
  }
  slices.push([start, encoded.length]);

  const np = slices.length;
  return slices.map(([from, to], pt) => {
    const pk = partitionKey(id, pt);
    if (pk.length > KINESIS_MAX_PARTITION_KEY_CHARS) {
      throw new ProtocolError(ErrorCode.FrameInvalid, CloseCode.FrameInvalid, `partition key of ${pk.length} characters exceeds Kinesis's ${KINESIS_MAX_PARTITION_KEY_CHARS}`);
    }
    const data = Buffer.concat([envelope(id, pt, np), arrayHeader(to - from), ...encoded.slice(from, to)]);
    const size = data.length + Buffer.byteLength(pk);
    if (size > KINESIS_MAX_RECORD_BYTES) {
      throw new ProtocolError(
        ErrorCode.FrameTooLarge,
        CloseCode.FrameTooLarge,
        `batch ${id.seq}: event ${from} alone makes a record of ${size} bytes, over Kinesis's ${KINESIS_MAX_RECORD_BYTES}-byte record limit`,
      );
    }
    return { key: recordKey({ s: id.server, e: id.epoch, q: id.seq, pt }), partitionKey: pk, data, size };
  });
}
