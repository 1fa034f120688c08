import { describe, expect, it } from 'vitest';
import { batchToRecords, checkRecordTarget } from '../../gateway/batch-records.js';
import { decodeRecord, encodeRecord, recordKey } from '../../gateway/record-format.js';
import { ProtocolError, type WireEvent } from '../../protocol/index.js';
import { joins } from './support.js';

const id = { server: 'srv-a', epoch: 1_764_331_200_000, seq: 42, wm: 1_764_331_299_999.5 };

describe('batchToRecords', () => {
  it('makes one record for a small batch, byte for byte what encodeRecord gives', () => {
    const ev: WireEvent[] = [...joins(3), { k: 'delta', t: 1.5, i: 2, x: -3.25, region: 'r1' }];
    const [rec, ...rest] = batchToRecords(id, ev);
    expect(rest).toEqual([]);
    const expected = encodeRecord({ v: 1, s: id.server, e: id.epoch, q: id.seq, pt: 0, np: 1, wm: id.wm, ev });
    expect(rec!.data.equals(expected)).toBe(true);
    expect(rec!.key).toBe(`srv-a/${id.epoch}/42/0`);
    expect(rec!.size).toBe(rec!.data.length + Buffer.byteLength(rec!.partitionKey));
  });

  it('makes one record with no events for a heartbeat: it carries the watermark', () => {
    const recs = batchToRecords(id, []);
    expect(recs.length).toBe(1);
    const r = decodeRecord(recs[0]!.data);
    expect(r).toMatchObject({ s: 'srv-a', e: id.epoch, q: 42, pt: 0, np: 1, wm: id.wm, ev: [] });
  });

  it.each([1024, 4096, 25 * 1024])('splits a large batch into parts under a %i-byte target, in order, every part with wm and np', (target) => {
    const ev = joins(2000);
    const recs = batchToRecords(id, ev, target);
    expect(recs.length).toBeGreaterThan(1);
    const decoded = recs.map((r) => decodeRecord(r.data));
    decoded.forEach((d, i) => {
      expect(d).toMatchObject({ s: id.server, e: id.epoch, q: id.seq, pt: i, np: recs.length, wm: id.wm });
      expect(recordKey(d)).toBe(recs[i]!.key);
      expect(recs[i]!.data.equals(encodeRecord(d))).toBe(true);
    });
    for (const r of recs) expect(r.size).toBeLessThanOrEqual(target);
    expect(decoded.flatMap((d) => d.ev)).toEqual(ev);
    // Parts are filled, not split early: each part but the last could not take the next event.
    const avg = recs.reduce((a, r) => a + r.size, 0) / recs.length;
    expect(avg).toBeGreaterThan(target * 0.7);
    expect(new Set(recs.map((r) => r.partitionKey)).size).toBe(recs.length);
  });

  it('gives an event bigger than the target a record of its own', () => {
    const big: WireEvent = { k: 'rules', e: 1, n: 1, t: 1, hunt: 'h', hash: 'x', rules: { id: 'h', name: 'x'.repeat(5000), treasures: [] } as never };
    const recs = batchToRecords(id, [...joins(2), big, ...joins(2, 2)], 2048);
    const withBig = recs.find((r) => decodeRecord(r.data).ev.some((e) => e.k === 'rules'))!;
    expect(decodeRecord(withBig.data).ev.length).toBe(1);
    expect(recs.flatMap((r) => decodeRecord(r.data).ev).length).toBe(5);
  });

  it('refuses an event that cannot fit in any Kinesis record (1 MiB)', () => {
    const huge: WireEvent = { k: 'rules', e: 1, n: 1, t: 1, hunt: 'h', hash: 'x', rules: { id: 'h', name: 'x'.repeat(1024 * 1024), treasures: [] } as never };
    expect(() => batchToRecords(id, [huge])).toThrow(ProtocolError);
  });

  it('checks the record target', () => {
    expect(checkRecordTarget(25 * 1024)).toBe(25 * 1024);
    expect(() => checkRecordTarget(100)).toThrow(/1024 to 1048576/);
    expect(() => checkRecordTarget(2 * 1024 * 1024)).toThrow(RangeError);
  });
});
