import { describe, expect, it } from 'vitest';
import { batchToRecords, checkRecordTarget, userRecordBudget, type UserRecord } from '../../gateway/batch-records.js';
import { eventSlices } from '../../gateway/frame-events.js';
import { AggregateBuilder } from '../../backend/kinesis/kpl-aggregation.js';
import { PartitionScheme } from '../../backend/kinesis/partition-keys.js';
import { decodeRecord, encodeRecord, recordKey } from '../../backend/kinesis/record-format.js';
import { encode, Op, ProtocolError, type WireEvent } from '../../protocol/index.js';
import { joins } from './support.js';

const id = { server: 'srv-a', epoch: 1_764_331_200_000, seq: 42, wm: 1_764_331_299_999.5 };

const opts = (buckets = 4, targetBytes?: number, frame?: Buffer) => ({
  scheme: new PartitionScheme(buckets),
  ...(targetBytes !== undefined ? { targetBytes } : {}),
  frame,
});

/** The frame a plugin would send for these events. */
const frameOf = (ev: WireEvent[]) => encode({ op: Op.Batch, seq: id.seq, wm: id.wm, ev });

/** Size of the Kinesis record holding only this user record: data + partition key. */
function aloneSize(r: UserRecord, scheme: PartitionScheme): number {
  const b = new AggregateBuilder();
  b.add({ partitionKey: scheme.keys[r.bucket]!, explicitHashKey: scheme.hashKeys[r.bucket]!, data: r.data });
  return b.size + scheme.keys[r.bucket]!.length;
}

/** A player's events in one batch, mixed: join, deltas by session index, an enter, a leave. */
function session(player: string, i: number, t0: number, deltas = 3): WireEvent[] {
  const ev: WireEvent[] = [{ k: 'join', e: 1, n: t0, t: t0, p: player, i }];
  for (let d = 0; d < deltas; d++) ev.push({ k: 'delta', t: t0 + d + 1, i, x: d, z: -d - 1 });
  ev.push({ k: 'enter', e: 1, n: t0 + 100, t: t0 + 100, p: player, hunt: 'h', tr: 'oak', region: 'r1', at: [1, 2, 3] });
  ev.push({ k: 'leave', e: 1, n: t0 + 200, t: t0 + 200, p: player });
  return ev;
}

/** Interleaves several lists, keeping each list's order. */
function interleave(lists: WireEvent[][]): WireEvent[] {
  const out: WireEvent[] = [];
  for (let j = 0; lists.some((l) => j < l.length); j++) for (const l of lists) if (j < l.length) out.push(l[j]!);
  return out;
}

describe('batchToRecords', () => {
  it('makes one record for a batch that falls in one bucket, byte for byte what encodeRecord gives', () => {
    const ev: WireEvent[] = [...joins(3), { k: 'delta', t: 1.5, i: 2, x: -3.25, region: 'r1' }];
    const [rec, ...rest] = batchToRecords(id, ev, opts(1));
    expect(rest).toEqual([]);
    const expected = encodeRecord({ v: 1, s: id.server, e: id.epoch, q: id.seq, pt: 0, np: 1, wm: id.wm, ev });
    expect(rec!.data.equals(expected)).toBe(true);
    expect(rec!.key).toBe(`srv-a/${id.epoch}/42/0`);
    expect(rec!.bucket).toBe(0);
  });

  it('takes the events\' bytes from the frame: the same records as encoding them', () => {
    const ev = interleave([session('alice', 1, 1000), session('bob', 2, 2000), session('carol', 3, 3000)]);
    const frame = frameOf(ev);
    const slices = eventSlices(frame)!;
    expect(slices.length).toBe(ev.length * 2);
    expect(frame.subarray(slices[0], slices[1]).equals(encode(ev[0]!))).toBe(true);
    const fromFrame = batchToRecords(id, ev, opts(4, undefined, frame));
    const encoded = batchToRecords(id, ev, opts(4));
    expect(fromFrame.map((r) => r.data.toString('hex'))).toEqual(encoded.map((r) => r.data.toString('hex')));
    // Views into the frame, not copies of re-encoded events: the frame's bytes appear in the records.
    expect(fromFrame.some((r) => r.data.includes(frame.subarray(slices[0], slices[1])))).toBe(true);
  });

  it('makes one record with no events for a heartbeat, in the server\'s bucket: it carries the watermark', () => {
    const o = opts(8);
    const recs = batchToRecords(id, [], o);
    expect(recs.length).toBe(1);
    expect(recs[0]!.bucket).toBe(o.scheme.ofServer('srv-a'));
    expect(decodeRecord(recs[0]!.data)).toMatchObject({ s: 'srv-a', e: id.epoch, q: 42, pt: 0, np: 1, wm: id.wm, ev: [] });
  });

  it('puts every discrete event of a player in the player\'s bucket and a session\'s deltas in one bucket, in batch order', () => {
    const players = Array.from({ length: 12 }, (_, k) => `player-${k}`);
    const ev = interleave(players.map((p, k) => session(p, k + 1, (k + 1) * 1000)));
    const o = opts(4);
    const recs = batchToRecords(id, ev, o);
    const decoded = recs.map((r) => ({ bucket: r.bucket, rec: decodeRecord(r.data) }));
    expect(decoded.map((d) => d.rec.pt)).toEqual([...recs.keys()]);
    for (const d of decoded) expect(d.rec).toMatchObject({ s: id.server, e: id.epoch, q: id.seq, np: recs.length, wm: id.wm });
    expect(new Set(recs.map((r) => r.bucket)).size).toBeGreaterThan(1);
    const check = (what: string, mine: (e: WireEvent) => boolean, bucket: number) => {
      const holding = decoded.filter((d) => d.rec.ev.some(mine));
      expect(holding.map((d) => d.bucket), what).toEqual([bucket]);
      expect(holding[0]!.rec.ev.filter(mine), what).toEqual(ev.filter(mine));
    };
    players.forEach((p, k) => {
      check(p, (e) => 'p' in e && e.p === p, o.scheme.ofPlayer(p));
      check(`session ${k + 1}`, (e) => e.k === 'delta' && e.i === k + 1, o.scheme.ofSession(id.server, k + 1));
    });
    expect(decoded.flatMap((d) => d.rec.ev).length).toBe(ev.length);
  });

  it('splits a batch the same way every time: the parts depend on the batch alone', () => {
    const ev = interleave(Array.from({ length: 30 }, (_, k) => session(`p${k}`, k, k * 1000, 20)));
    const a = batchToRecords(id, ev, opts(8, 2048));
    const b = batchToRecords(id, ev, opts(8, 2048, frameOf(ev)));
    expect(a.length).toBeGreaterThan(8);
    expect(b.map((r) => [r.key, r.bucket, r.data.toString('hex')])).toEqual(a.map((r) => [r.key, r.bucket, r.data.toString('hex')]));
  });

  it.each([1024, 4096, 25 * 1024])('splits a large batch into parts that fit a %i-byte aggregated record, in order', (target) => {
    const ev = joins(2000);
    const o = opts(1, target);
    const recs = batchToRecords(id, ev, o);
    expect(recs.length).toBeGreaterThan(1);
    const decoded = recs.map((r) => decodeRecord(r.data));
    decoded.forEach((d, i) => {
      expect(d).toMatchObject({ s: id.server, e: id.epoch, q: id.seq, pt: i, np: recs.length, wm: id.wm });
      expect(recordKey(d)).toBe(recs[i]!.key);
      expect(recs[i]!.data.equals(encodeRecord(d))).toBe(true);
    });
    for (const r of recs) expect(aloneSize(r, o.scheme)).toBeLessThanOrEqual(target);
    expect(decoded.flatMap((d) => d.ev)).toEqual(ev);
    // Parts are filled, not split early: each part but the last could not take the next event.
    const avg = recs.reduce((a, r) => a + aloneSize(r, o.scheme), 0) / recs.length;
    expect(avg).toBeGreaterThan(target * 0.7);
  });

  it('gives an event bigger than the target a record of its own', () => {
    const big: WireEvent = { k: 'rules', e: 1, n: 1, t: 1, hunt: 'h', hash: 'x', rules: { id: 'h', name: 'x'.repeat(5000), treasures: [] } as never };
    const recs = batchToRecords(id, [...joins(2), big, ...joins(2, 2)], opts(1, 2048));
    const withBig = recs.find((r) => decodeRecord(r.data).ev.some((e) => e.k === 'rules'))!;
    expect(decodeRecord(withBig.data).ev.length).toBe(1);
    expect(recs.flatMap((r) => decodeRecord(r.data).ev).length).toBe(5);
  });

  it('refuses an event that cannot fit in any Kinesis record (1 MiB)', () => {
    const huge: WireEvent = { k: 'rules', e: 1, n: 1, t: 1, hunt: 'h', hash: 'x', rules: { id: 'h', name: 'x'.repeat(1024 * 1024), treasures: [] } as never };
    expect(() => batchToRecords(id, [huge], opts())).toThrow(ProtocolError);
  });

  it('leaves room in the budget for the aggregate framing', () => {
    const scheme = new PartitionScheme(500);
    expect(userRecordBudget(25 * 1024, scheme)).toBeLessThan(25 * 1024 - 60);
    expect(userRecordBudget(25 * 1024, scheme)).toBeGreaterThan(25 * 1024 - 120);
  });

  it('checks the record target', () => {
    expect(checkRecordTarget(25 * 1024)).toBe(25 * 1024);
    expect(() => checkRecordTarget(100)).toThrow(/1024 to 1048576/);
    expect(() => checkRecordTarget(2 * 1024 * 1024)).toThrow(RangeError);
  });
});
