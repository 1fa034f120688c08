/**
 * The KPL aggregated record format, so any KCL consumer, the Lambda deaggregation
 * modules or `aws-kinesis-agg` can read what the gateway writes:
 *
 *   record = F3 89 9A C2 || AggregatedRecord (protobuf) || MD5(AggregatedRecord)
 *
 *   message AggregatedRecord {
 *     repeated string partition_key_table     = 1;
 *     repeated string explicit_hash_key_table = 2;
 *     repeated Record records                 = 3;
 *   }
 *   message Record {
 *     required uint64 partition_key_index     = 1;
 *     optional uint64 explicit_hash_key_index = 2;
 *     required bytes  data                    = 3;
 *     repeated Tag    tags                    = 4;
 *   }
 *   message Tag { required string key = 1; optional string value = 2; }
 *
 * Source: awslabs/amazon-kinesis-producer, aggregation-format.md. The encoder writes
 * fields in field-number order into one buffer sized up front; the decoder accepts any
 * field order and skips unknown fields, as protobuf requires.
 *
 * Over ~300 lines: the encoder and the decoder of one byte layout stay together, so the
 * format is read (and checked against aws-kinesis-agg) in one place.
 */
import { createHash } from 'node:crypto';

export const KPL_MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
const MD5_BYTES = 16;
/** Magic + MD5 trailer: what an aggregated record costs beyond its protobuf. */
export const KPL_FRAMING_BYTES = KPL_MAGIC.length + MD5_BYTES;

/** A user record: one logical record inside an aggregated Kinesis record. */
export interface UserRecordIn {
  partitionKey: string;
  /** Decimal 128-bit hash key; when set, KCL places the record by it instead of MD5(partitionKey). */
  explicitHashKey?: string | undefined;
  data: Uint8Array;
}

export interface UserRecordOut {
  partitionKey: string;
  explicitHashKey: string | undefined;
  /** A view into the aggregated record's bytes (no copy). */
  data: Buffer;
}

/** An aggregated record that cannot be read: bad checksum, truncated or malformed protobuf. */
export class KplFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KplFormatError';
  }
}

/** Bytes of `n` as a protobuf varint (n a non-negative safe integer). */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[pos++] = n;
  return pos;
}

/** Bytes of a length-delimited field (tag, length, payload) of `len` payload bytes. */
const lengthDelimited = (len: number) => 1 + varintSize(len) + len;

/** Bytes of the `Record` message itself (without its field tag and length). */
function recordMessageSize(pkIndex: number, ehkIndex: number | undefined, dataLen: number): number {
  return 1 + varintSize(pkIndex) + (ehkIndex === undefined ? 0 : 1 + varintSize(ehkIndex)) + lengthDelimited(dataLen);
}

/**
 * Collects user records into one aggregated record of at most `maxBytes` (magic, protobuf
 * and MD5; the caller adds its outer partition key to its own budget). Sizes are exact,
 * so a record is never encoded just to be measured.
 */
export class AggregateBuilder {
  private readonly pkIndex = new Map<string, number>();
  private readonly ehkIndex = new Map<string, number>();
  private readonly pkTable: string[] = [];
  private readonly ehkTable: string[] = [];
  private readonly records: { pk: number; ehk: number | undefined; data: Uint8Array }[] = [];
  /** Protobuf bytes so far. */
  private body = 0;

  constructor(readonly maxBytes = Infinity) {}

  get count(): number {
    return this.records.length;
  }

  /** Bytes of the aggregated record built now (magic and MD5 included). */
  get size(): number {
    return KPL_FRAMING_BYTES + this.body;
  }

  /** Bytes the record would add. */
  growth(r: UserRecordIn): number {
    const pk = this.pkIndex.get(r.partitionKey);
    let grow = 0;
    if (pk === undefined) grow += lengthDelimited(Buffer.byteLength(r.partitionKey));
    let ehk: number | undefined;
    if (r.explicitHashKey !== undefined) {
      ehk = this.ehkIndex.get(r.explicitHashKey);
      if (ehk === undefined) {
        grow += lengthDelimited(Buffer.byteLength(r.explicitHashKey));
        ehk = this.ehkTable.length;
      }
    }
    return grow + lengthDelimited(recordMessageSize(pk ?? this.pkTable.length, ehk, r.data.length));
  }

  /**
   * Adds the record unless it would take the aggregate past maxBytes; an empty builder
   * always takes one (the caller bounds single records by Kinesis's own limit).
   */
  add(r: UserRecordIn, growth = this.growth(r)): boolean {
    if (this.records.length > 0 && this.size + growth > this.maxBytes) return false;
    let pk = this.pkIndex.get(r.partitionKey);
    if (pk === undefined) {
      pk = this.pkTable.push(r.partitionKey) - 1;
      this.pkIndex.set(r.partitionKey, pk);
    }
    let ehk: number | undefined;
    if (r.explicitHashKey !== undefined) {
      ehk = this.ehkIndex.get(r.explicitHashKey);
      if (ehk === undefined) {
        ehk = this.ehkTable.push(r.explicitHashKey) - 1;
        this.ehkIndex.set(r.explicitHashKey, ehk);
      }
    }
    this.records.push({ pk, ehk, data: r.data });
    this.body += growth;
    return true;
  }

  build(): Buffer {
    const out = Buffer.allocUnsafe(this.size);
    KPL_MAGIC.copy(out, 0);
    let pos = KPL_MAGIC.length;
    const str = (tag: number, s: string) => {
      out[pos++] = tag;
      const len = Buffer.byteLength(s);
      pos = writeVarint(out, pos, len);
      pos += out.write(s, pos, 'utf8');
    };
    for (const s of this.pkTable) str(0x0a, s); // field 1, wire type 2
    for (const s of this.ehkTable) str(0x12, s); // field 2, wire type 2
    for (const r of this.records) {
      out[pos++] = 0x1a; // field 3, wire type 2
      pos = writeVarint(out, pos, recordMessageSize(r.pk, r.ehk, r.data.length));
      out[pos++] = 0x08; // Record field 1, varint
      pos = writeVarint(out, pos, r.pk);
      if (r.ehk !== undefined) {
        out[pos++] = 0x10; // Record field 2, varint
        pos = writeVarint(out, pos, r.ehk);
      }
      out[pos++] = 0x1a; // Record field 3, wire type 2
      pos = writeVarint(out, pos, r.data.length);
      out.set(r.data, pos);
      pos += r.data.length;
    }
    if (pos !== out.length - MD5_BYTES) throw new Error(`aggregate size mismatch: wrote ${pos + MD5_BYTES} of ${out.length} bytes`);
    createHash('md5').update(out.subarray(KPL_MAGIC.length, pos)).digest().copy(out, pos);
    return out;
  }
}

/** One aggregated record holding `records`, in order, whatever their size. */
export function aggregate(records: readonly UserRecordIn[]): Buffer {
  const b = new AggregateBuilder();
  for (const r of records) b.add(r);
  return b.build();
}

/** True when the bytes start with the KPL magic (and are long enough to hold a checksum). */
export function isAggregated(data: Uint8Array): boolean {
  return data.length >= KPL_FRAMING_BYTES && data[0] === 0xf3 && data[1] === 0x89 && data[2] === 0x9a && data[3] === 0xc2;
}

/** Protobuf reader over one message's bytes. */
class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new KplFormatError('truncated varint');
      const b = this.buf[this.pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(n)) throw new KplFormatError('varint beyond 2^53');
        return n;
      }
      scale *= 0x80;
    }
    throw new KplFormatError('varint longer than 10 bytes');
  }

  /** [start, end) of a length-delimited payload. */
  bytes(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) throw new KplFormatError(`length ${len} runs past the end of its message`);
    this.pos = start + len;
    return [start, this.pos];
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.bytes();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new KplFormatError(`unsupported protobuf wire type ${wire}`);
    }
    if (this.pos > this.end) throw new KplFormatError('truncated fixed-width field');
  }
}

/**
 * The user records of an aggregated record, after checking its MD5. Throws KplFormatError
 * when the checksum does not match or the protobuf is malformed; call isAggregated first
 * (a record without the magic is a plain record, not an error).
 */
export function deaggregate(data: Uint8Array): UserRecordOut[] {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!isAggregated(buf)) throw new KplFormatError('no KPL magic (F3 89 9A C2): not an aggregated record');
  const start = KPL_MAGIC.length;
  const end = buf.length - MD5_BYTES;
  const digest = createHash('md5').update(buf.subarray(start, end)).digest();
  if (!digest.equals(buf.subarray(end))) throw new KplFormatError('MD5 checksum does not match the aggregated record');

  const pks: string[] = [];
  const ehks: string[] = [];
  const raw: { pk: number; ehk: number | undefined; data: [number, number] }[] = [];
  const r = new Reader(buf, start, end);
  while (!r.done) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if ((field === 1 || field === 2 || field === 3) && wire !== 2) throw new KplFormatError(`AggregatedRecord field ${field} has wire type ${wire}, expected 2`);
    if (field === 1 || field === 2) {
      const [a, b] = r.bytes();
      (field === 1 ? pks : ehks).push(buf.toString('utf8', a, b));
    } else if (field === 3) {
      const [a, b] = r.bytes();
      raw.push(readRecord(buf, a, b));
    } else {
      r.skip(wire);
    }
  }
  return raw.map((u, i) => {
    const partitionKey = pks[u.pk];
    if (partitionKey === undefined) throw new KplFormatError(`record ${i}: partition_key_index ${u.pk} outside a table of ${pks.length}`);
    let explicitHashKey: string | undefined;
    if (u.ehk !== undefined) {
      explicitHashKey = ehks[u.ehk];
      if (explicitHashKey === undefined) throw new KplFormatError(`record ${i}: explicit_hash_key_index ${u.ehk} outside a table of ${ehks.length}`);
    }
    return { partitionKey, explicitHashKey, data: buf.subarray(u.data[0], u.data[1]) };
  });
}

function readRecord(buf: Buffer, start: number, end: number): { pk: number; ehk: number | undefined; data: [number, number] } {
  const r = new Reader(buf, start, end);
  let pk: number | undefined;
  let ehk: number | undefined;
  let data: [number, number] | undefined;
  while (!r.done) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 1 && wire === 0) pk = r.varint();
    else if (field === 2 && wire === 0) ehk = r.varint();
    else if (field === 3 && wire === 2) data = r.bytes();
    else if (field >= 1 && field <= 3) throw new KplFormatError(`Record field ${field} has wire type ${wire}`);
    else r.skip(wire); // tags (field 4) and unknown fields
  }
  if (pk === undefined) throw new KplFormatError('Record without its required partition_key_index');
  if (data === undefined) throw new KplFormatError('Record without its required data');
  return { pk, ehk, data };
}

/** A record as GetRecords returns it; user records add the KCL-style sub-sequence number. */
export interface KinesisRecordLike {
  Data?: Uint8Array | undefined;
  PartitionKey?: string | undefined;
  SequenceNumber?: string | undefined;
}

/**
 * Kinesis records to the records a consumer processes: each aggregated record becomes
 * its user records (PartitionKey and Data of the user record, the Kinesis sequence
 * number, and SubSequenceNumber = index), any other record stays as it is. An aggregated
 * record that fails its checksum or does not parse is also passed on as it is, so the
 * consumer's decoder refuses it, names the fault, and counts it as a bad record.
 */
export function deaggregateRecords<R extends KinesisRecordLike>(records: readonly R[]): (R & { SubSequenceNumber?: number })[] {
  const out: (R & { SubSequenceNumber?: number })[] = [];
  for (const rec of records) {
    const data = rec.Data;
    if (!data || !isAggregated(data)) {
      out.push(rec);
      continue;
    }
    let users: UserRecordOut[];
    try {
      users = deaggregate(data);
    } catch {
      out.push(rec);
      continue;
    }
    users.forEach((u, i) => out.push({ ...rec, Data: u.data, PartitionKey: u.partitionKey, SubSequenceNumber: i }));
  }
  return out;
}

/** Why bytes with the KPL magic cannot be deaggregated, or undefined when they can. */
export function aggregateProblem(data: Uint8Array): string | undefined {
  try {
    deaggregate(data);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
