/**
 * The KPL aggregated record format, checked against awslabs' own implementation
 * (aws-kinesis-agg, which encodes with protobufjs from the KPL's .proto): the bytes we
 * write are the bytes it writes, it reads ours with checksums verified, and we read its.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AggregateBuilder,
  aggregate,
  deaggregate,
  deaggregateRecords,
  isAggregated,
  KplFormatError,
  KPL_MAGIC,
  varintSize,
  type UserRecordIn,
} from '../../backend/kinesis/kpl-aggregation.js';
import { bucketer, bucketPartitionKey, PARTITION_SCHEME, PartitionScheme } from '../../backend/kinesis/partition-keys.js';
import { decodeRecord, encodeRecord, RECORD_FORMAT_VERSION } from '../../backend/kinesis/record-format.js';
import { awsKinesisAgg, libDeaggregate } from './support.js';

const scheme = new PartitionScheme(7);

/** A mix: repeated and new keys, with and without explicit hash keys, empty, unicode, and data past a 2-byte length. */
function mixed(): UserRecordIn[] {
  const out: UserRecordIn[] = [];
  for (let i = 0; i < 300; i++) {
    const b = i % 7;
    out.push({
      partitionKey: i % 50 === 0 ? `player-ü-${i}` : scheme.keys[b]!,
      ...(i % 3 === 0 ? {} : { explicitHashKey: scheme.hashKeys[b]! }),
      data: Buffer.alloc(i === 7 ? 20_000 : i % 11 === 0 ? 0 : 1 + (i % 200), i & 0xff),
    });
  }
  return out;
}

/** Wraps a protobuf body as an aggregated record with a correct MD5. */
const wrap = (body: Buffer) => Buffer.concat([KPL_MAGIC, body, createHash('md5').update(body).digest()]);

describe('KPL aggregated records', () => {
  it('encodes byte for byte what aws-kinesis-agg encodes for the same user records', () => {
    const recs = mixed();
    const ours = aggregate(recs);
    let theirs: Buffer | undefined;
    new awsKinesisAgg.RecordAggregator().aggregateRecords(
      recs.map((r) => ({ partitionKey: r.partitionKey, ...(r.explicitHashKey ? { explicitHashKey: r.explicitHashKey } : {}), data: Buffer.from(r.data) })),
      true,
      (err, encoded) => {
        if (err) throw err;
        theirs = encoded!.data;
      },
    );
    expect(theirs).toBeDefined();
    expect(ours.toString('hex')).toBe(theirs!.toString('hex'));
  });

  it('is read by aws-kinesis-agg, checksum verified, with every key and byte in place', () => {
    const recs = mixed();
    const users = libDeaggregate({ partitionKey: 'outer', sequenceNumber: '1', data: aggregate(recs) });
    expect(users.length).toBe(recs.length);
    users.forEach((u, i) => {
      expect(u.partitionKey).toBe(recs[i]!.partitionKey);
      // protobufjs reads an absent optional index as 0, so the library reports table[0] for records without one.
      if (recs[i]!.explicitHashKey !== undefined) expect(u.explicitPartitionKey).toBe(recs[i]!.explicitHashKey);
      expect(Buffer.from(u.data, 'base64').equals(Buffer.from(recs[i]!.data))).toBe(true);
      expect(u.subSequenceNumber).toBe(i);
    });
  });

  it('reads what aws-kinesis-agg writes', () => {
    const agg = new awsKinesisAgg.RecordAggregator();
    const recs = mixed().filter((r) => r.data.length > 0); // the library refuses empty data
    for (const r of recs) agg.addUserRecord({ partitionKey: r.partitionKey, ...(r.explicitHashKey ? { explicitHashKey: r.explicitHashKey } : {}), data: Buffer.from(r.data) });
    const built = agg.build()!;
    const ours = deaggregate(built.data);
    expect(ours.map((u) => [u.partitionKey, u.explicitHashKey, u.data.toString('hex')])).toEqual(
      recs.map((r) => [r.partitionKey, r.explicitHashKey, Buffer.from(r.data).toString('hex')]),
    );
  });

  it('knows its size before building, and keeps under maxBytes (one record always fits)', () => {
    const b = new AggregateBuilder(4096);
    let added = 0;
    for (const r of mixed()) {
      if (!b.add(r)) break;
      added++;
      expect(b.size).toBeLessThanOrEqual(4096);
    }
    expect(added).toBeGreaterThan(5);
    expect(b.build().length).toBe(b.size);
    const big = new AggregateBuilder(100);
    expect(big.add({ partitionKey: 'k', data: Buffer.alloc(500) })).toBe(true);
    expect(big.add({ partitionKey: 'k', data: Buffer.alloc(1) })).toBe(false);
    expect(big.build().length).toBe(big.size);
  });

  it('refuses a record whose checksum does not match, as aws-kinesis-agg does', () => {
    const bytes = aggregate(mixed());
    bytes[100]! ^= 0x01;
    expect(() => deaggregate(bytes)).toThrow(KplFormatError);
    expect(() => deaggregate(bytes)).toThrow(/MD5/);
    expect(() => libDeaggregate({ partitionKey: 'x', data: bytes })).toThrow(/checksum/i);
  });

  it.each([
    ['a truncated varint', Buffer.from([0x1a, 0x80])],
    ['a length past the end', Buffer.from([0x0a, 0x05, 0x61])],
    ['a record without data', Buffer.from([0x0a, 0x01, 0x6b, 0x1a, 0x02, 0x08, 0x00])],
    ['a record without partition_key_index', Buffer.from([0x0a, 0x01, 0x6b, 0x1a, 0x03, 0x1a, 0x01, 0x00])],
    ['a partition key index outside the table', Buffer.from([0x0a, 0x01, 0x6b, 0x1a, 0x05, 0x08, 0x01, 0x1a, 0x01, 0x00])],
    ['a hash key index outside the table', Buffer.from([0x0a, 0x01, 0x6b, 0x1a, 0x07, 0x08, 0x00, 0x10, 0x00, 0x1a, 0x01, 0x00])],
    ['a table entry with the wrong wire type', Buffer.from([0x08, 0x01])],
    ['a group (wire type 3)', Buffer.from([0x23])],
  ])('refuses malformed protobuf under a valid checksum: %s', (_, body) => {
    expect(() => deaggregate(wrap(body))).toThrow(KplFormatError);
  });

  it('skips tags and unknown fields', () => {
    // Record { pk 0, data "hi", tag {key "a"}, unknown field 9 varint 5 }; AggregatedRecord unknown field 15 fixed32.
    const record = Buffer.from([0x08, 0x00, 0x1a, 0x02, 0x68, 0x69, 0x22, 0x03, 0x0a, 0x01, 0x61, 0x48, 0x05]);
    const body = Buffer.concat([Buffer.from([0x0a, 0x01, 0x6b, 0x7d, 1, 2, 3, 4, 0x1a, record.length]), record]);
    expect(deaggregate(wrap(body)).map((u) => [u.partitionKey, u.data.toString()])).toEqual([['k', 'hi']]);
  });

  it('tells aggregated records from plain ones: a Cairn EventRecord never starts with the magic', () => {
    const plain = encodeRecord({ v: RECORD_FORMAT_VERSION, s: 's', e: 1, q: 1, pt: 0, np: 1, wm: 0, ev: [] });
    expect(isAggregated(plain)).toBe(false);
    expect(isAggregated(aggregate([{ partitionKey: 'k', data: plain }]))).toBe(true);
    expect(isAggregated(KPL_MAGIC)).toBe(false); // too short to hold the checksum
  });

  it('deaggregates a GetRecords page for the worker: user records out, plain records and corrupt aggregates passed on', () => {
    const part = (pt: number) => encodeRecord({ v: RECORD_FORMAT_VERSION, s: 's', e: 1, q: 1, pt, np: 3, wm: 5, ev: [] });
    const good = aggregate([{ partitionKey: 'b0', data: part(0) }, { partitionKey: 'b0', data: part(1) }]);
    const corrupt = Buffer.from(good);
    corrupt[corrupt.length - 1]! ^= 0xff;
    const out = deaggregateRecords([
      { SequenceNumber: '1', PartitionKey: 'b0', Data: good },
      { SequenceNumber: '2', PartitionKey: 'x', Data: part(2) },
      { SequenceNumber: '3', PartitionKey: 'b0', Data: corrupt },
    ]);
    expect(out.map((r) => [r.SequenceNumber, r.SubSequenceNumber])).toEqual([
      ['1', 0],
      ['1', 1],
      ['2', undefined],
      ['3', undefined],
    ]);
    expect(out.slice(0, 3).map((r) => decodeRecord(r.Data!).pt)).toEqual([0, 1, 2]);
    // The worker's decoder names what is wrong with the corrupt one.
    expect(() => decodeRecord(out[3]!.Data!)).toThrow(/KPL aggregated record .*MD5/);
  });

  it('sizes varints like protobuf', () => {
    expect([0, 127, 128, 16383, 16384, 2 ** 21, 2 ** 32, Number.MAX_SAFE_INTEGER].map(varintSize)).toEqual([1, 1, 2, 2, 3, 4, 5, 8]);
  });
});

describe('partition groups', () => {
  it('leave a part budget room for the widest partition and hash key a record can carry', () => {
    const s = new PartitionScheme(4);
    expect(s.hashKeys.every((k) => k === ((1n << 128n) - 1n).toString())).toBe(true);
    expect(s.keys.every((k) => k.length === bucketPartitionKey(0xffffffff).length)).toBe(true);
    expect(PARTITION_SCHEME.buckets).toBe(1);
    expect(() => new PartitionScheme(0)).toThrow(RangeError);
  });

  it('spread players, and sessions of a server, about evenly', () => {
    const s = new PartitionScheme(8);
    const players = new Array<number>(8).fill(0);
    const sessions = new Array<number>(8).fill(0);
    for (let i = 0; i < 80_000; i++) {
      players[s.ofPlayer(`player-${i}`)]!++;
      sessions[s.ofSession('srv-a', i + 1)]!++;
    }
    for (const c of [...players, ...sessions]) expect(Math.abs(c - 10_000)).toBeLessThan(600);
  });

  it('give a delta the bucket of its server and session index, and a control event without a player that of its server', () => {
    const s = new PartitionScheme(16);
    const of = bucketer('srv-a', s);
    expect(of({ k: 'delta', t: 1, i: 42, x: 1 })).toBe(s.ofSession('srv-a', 42));
    expect(of({ k: 'enter', e: 1, n: 1, t: 1, p: 'alice', hunt: 'h', tr: 't', region: 'r', at: [0, 0, 0] })).toBe(s.ofPlayer('alice'));
    expect(of({ k: 'rules', e: 1, n: 1, t: 1, hunt: 'h', hash: 'x', rules: {} as never })).toBe(s.ofServer('srv-a'));
    // Sessions of different servers with the same index are different sessions.
    const spread = new Set(Array.from({ length: 64 }, (_, k) => s.ofSession(`srv-${k}`, 1)));
    expect(spread.size).toBeGreaterThan(8);
  });
});
