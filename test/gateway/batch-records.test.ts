import { describe, expect, it } from 'vitest';
import { batchToRecords, checkRecordTarget, userRecordBudget, type UserRecord } from '../../gateway/batch-records.js';
import { AggregateBuilder } from '../../backend/kinesis/kpl-aggregation.js';
import { PartitionScheme, ShardLayout } from '../../backend/kinesis/partition-keys.js';
import { ALONE_OVERHEAD_MAX, RecordPacker } from '../../gateway/kinesis-writer/packing.js';
import { decodeRecord, encodeRecord, RECORD_FORMAT_VERSION, recordKey, type EventRecord } from '../../backend/kinesis/record-format.js';
import { batchLayout, decodeMoves, decodePluginMessage, decodeRaw, encode, encodeMoves, Op, ProtocolError, type Batch, type DeltaEvent, type DiscreteEvent } from '../../protocol/index.js';
import { encodeBatch } from '../../plugin/batch-encoder.js';
import { joins } from './support.js';

const id = { server: 'srv-a', epoch: 1_764_331_200_000, seq: 42, wm: 1_764_331_299_999.5 };

const opts = (buckets = 4, targetBytes?: number, frame?: Buffer) => ({
  scheme: new PartitionScheme(buckets),
  ...(targetBytes !== undefined ? { targetBytes } : {}),
  frame,
});

/** The frame a plugin would send for these events and deltas, and the batch the gateway decodes from it. */
function frameOf(ev: DiscreteEvent[], deltas: DeltaEvent[] = []): { frame: Buffer; msg: Batch } {
  const frame = encodeBatch(id.seq, id.wm, [...ev, ...deltas]);
  return { frame, msg: decodePluginMessage(frame) as Batch };
}

/** Size of the Kinesis record holding only this user record: data + partition key. */
function aloneSize(r: UserRecord, scheme: PartitionScheme): number {
  const b = new AggregateBuilder();
  b.add({ partitionKey: scheme.keys[r.bucket]!, explicitHashKey: scheme.hashKeys[r.bucket]!, data: r.data });
  return b.size + scheme.keys[r.bucket]!.length;
}

/** A player's discrete events in one batch: join, an enter, a leave. */
function session(player: string, i: number, t0: number, padding = 0): DiscreteEvent[] {
  return [
    { k: 'join', e: 1, n: t0, t: t0, p: player, i },
    { k: 'enter', e: 1, n: t0 + 100, t: t0 + 100, p: player, hunt: 'h', tr: 'oak'.padEnd(3 + padding, '-'), region: 'r1', at: [1, 2, 3] },
    { k: 'leave', e: 1, n: t0 + 200, t: t0 + 200, p: player },
  ];
}

/** msgpack of any value (encode is typed for messages). */
const mp = (v: unknown) => encode(v as object);

/** Deltas of sessions 1..n. */
const movesOf = (n: number): DeltaEvent[] => Array.from({ length: n }, (_, k) => ({ k: 'delta', t: 1000 + k, i: k + 1, x: k / 4, z: -k - 1 }));

/** Interleaves several lists, keeping each list's order. */
function interleave(lists: DiscreteEvent[][]): DiscreteEvent[] {
  const out: DiscreteEvent[] = [];
  for (let j = 0; lists.some((l) => j < l.length); j++) for (const l of lists) if (j < l.length) out.push(l[j]!);
  return out;
}

describe('batchToRecords', () => {
  it('makes one record for a batch that falls in one bucket, byte for byte what encodeRecord gives', () => {
    const ev = joins(3);
    const moves = encodeMoves([{ k: 'delta', t: 1, i: 2, x: -3.25, region: 'r1' }]);
    const [rec, ...rest] = batchToRecords(id, ev, { ...opts(1), moves });
    expect(rest).toEqual([]);
    const expected = encodeRecord({ v: RECORD_FORMAT_VERSION, s: id.server, e: id.epoch, q: id.seq, pt: 0, np: 1, wm: id.wm, ev, mv: moves });
    expect(rec!.data.toString('hex')).toBe(expected.toString('hex'));
    expect(rec!.key).toBe(`srv-a/${id.epoch}/42/0`);
    expect(rec!.bucket).toBe(0);
  });

  it('takes the events\' bytes and the moves block from the frame: the same records as encoding them', () => {
    const ev = interleave([session('alice', 1, 1000), session('bob', 2, 2000), session('carol', 3, 3000)]);
    const { frame, msg } = frameOf(ev, movesOf(3));
    const layout = batchLayout(msg.ev)!;
    expect(layout.frame).toBe(frame);
    expect(frame.subarray(layout.at[0], layout.at[1]).equals(encode(ev[0]!))).toBe(true);
    const fromFrame = batchToRecords(id, msg.ev, opts(4, undefined, frame));
    const encoded = batchToRecords(id, ev, { ...opts(4), moves: msg.mv });
    expect(fromFrame.map((r) => r.data.toString('hex'))).toEqual(encoded.map((r) => r.data.toString('hex')));
    // The frame's bytes appear in the records: copied, not re-encoded.
    expect(fromFrame.some((r) => r.data.includes(frame.subarray(layout.at[0], layout.at[1])))).toBe(true);
    expect(fromFrame.some((r) => r.data.includes(frame.subarray(layout.moves![0], layout.moves![1])))).toBe(true);
  });

  it('writes for each event exactly the bytes the validator saw, and refuses a batch with a key twice', () => {
    const ev = interleave([session('alice', 1, 1000), session('bob', 2, 2000)]);
    const { frame, msg } = frameOf(ev, movesOf(2));
    const layout = batchLayout(msg.ev)!;
    const validated = new Map<string, DiscreteEvent>();
    msg.ev.forEach((e, j) => validated.set(frame.subarray(layout.at[2 * j], layout.at[2 * j + 1]).toString('hex'), e));
    const written = batchToRecords(id, msg.ev, opts(4, undefined, frame)).map((r) => decodeRecord(r.data));
    const writtenEv = written.flatMap((r) => r.ev);
    expect(writtenEv).toHaveLength(ev.length);
    for (const e of writtenEv) expect(validated.get(encode(e).toString('hex'))).toEqual(e);
    expect(written.filter((r) => r.mv).map((r) => decodeMoves(r.mv!).deltas)).toEqual([movesOf(2)]);

    // The attack: an `ev` that passes the validator, then a second `ev` (a 300-character
    // player, a time that is not a number) a byte reader could take instead.
    const evil = { k: 'enter', e: 1, n: 1, t: 'nope', p: 'x'.repeat(300), hunt: 'h', tr: 'oak', region: 'r1', at: [1, 2, 3] };
    const head = encode({ op: Op.Batch, seq: 1, wm: 5, ev: ev.slice(0, 1) });
    const twice = Buffer.concat([Buffer.from([0xde, 0, 5]), head.subarray(3), mp('ev'), mp([evil])]);
    expect(() => decodePluginMessage(twice)).toThrow(/duplicate map key "ev"/);
    // ...and inside an event, too.
    const inner = Buffer.concat([Buffer.from([0x84]), mp('op'), mp(Op.Batch), mp('seq'), mp(1), mp('wm'), mp(5), mp('ev'), Buffer.from([0x91, 0x82]), mp('k'), mp('join'), mp('k'), mp('leave')]);
    expect(() => decodePluginMessage(inner)).toThrow(/duplicate map key "k"/);
  });

  it('makes one record with no events for a heartbeat, in the server\'s bucket: it carries the watermark', () => {
    const o = opts(8);
    const recs = batchToRecords(id, [], o);
    expect(recs.length).toBe(1);
    expect(recs[0]!.bucket).toBe(o.scheme.ofServer('srv-a'));
    expect(decodeRecord(recs[0]!.data)).toMatchObject({ s: 'srv-a', e: id.epoch, q: 42, pt: 0, np: 1, wm: id.wm, ev: [] });
  });

  it('puts every discrete event of a player in the player\'s bucket, in batch order, and the moves block in the server\'s', () => {
    const players = Array.from({ length: 12 }, (_, k) => `player-${k}`);
    const ev = interleave(players.map((p, k) => session(p, k + 1, (k + 1) * 1000)));
    const o = opts(4);
    const moves = encodeMoves(movesOf(12));
    const recs = batchToRecords(id, ev, { ...o, moves });
    const decoded = recs.map((r) => ({ bucket: r.bucket, rec: decodeRecord(r.data) }));
    expect(decoded.map((d) => d.rec.pt)).toEqual([...recs.keys()]);
    for (const d of decoded) expect(d.rec).toMatchObject({ s: id.server, e: id.epoch, q: id.seq, np: recs.length, wm: id.wm });
    expect(new Set(recs.map((r) => r.bucket)).size).toBeGreaterThan(1);
    const check = (what: string, mine: (e: DiscreteEvent) => boolean, bucket: number) => {
      const holding = decoded.filter((d) => d.rec.ev.some(mine));
      expect(holding.map((d) => d.bucket), what).toEqual([bucket]);
      expect(holding[0]!.rec.ev.filter(mine), what).toEqual(ev.filter(mine));
    };
    players.forEach((p) => check(p, (e) => 'p' in e && e.p === p, o.scheme.ofPlayer(p)));
    expect(decoded.flatMap((d) => d.rec.ev).length).toBe(ev.length);
    const withMoves = decoded.filter((d) => d.rec.mv);
    expect(withMoves.map((d) => d.bucket)).toEqual([o.scheme.ofServer(id.server)]);
    expect(Buffer.from(withMoves[0]!.rec.mv!).equals(moves)).toBe(true);
  });

  it('splits a batch the same way every time: the parts depend on the batch alone', () => {
    const ev = interleave(Array.from({ length: 60 }, (_, k) => session(`p${k}`, k, k * 1000, 60)));
    const { frame, msg } = frameOf(ev, movesOf(60));
    const a = batchToRecords(id, ev, { ...opts(8, 1024), moves: msg.mv });
    const b = batchToRecords(id, msg.ev, opts(8, 1024, frame));
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
      const { badEvents, badReason, ...rec } = d;
      expect([badEvents, badReason]).toEqual([0, undefined]);
      expect(recs[i]!.data.equals(encodeRecord(rec))).toBe(true);
    });
    for (const r of recs) expect(aloneSize(r, o.scheme)).toBeLessThanOrEqual(target);
    expect(decoded.flatMap((d) => d.ev)).toEqual(ev);
    // Parts are filled, not split early: each part but the last could not take the next event.
    const avg = recs.reduce((a, r) => a + aloneSize(r, o.scheme), 0) / recs.length;
    expect(avg).toBeGreaterThan(target * 0.7);
  });

  it('gives an event bigger than the target a record of its own', () => {
    const big: DiscreteEvent = { k: 'rules', e: 1, n: 1, t: 1, hunt: 'h', hash: 'x', rules: { id: 'h', name: 'x'.repeat(5000), treasures: [] } as never };
    const recs = batchToRecords(id, [...joins(2), big, ...joins(2, 2)], opts(1, 2048));
    const withBig = recs.find((r) => decodeRecord(r.data).ev.some((e) => e.k === 'rules'))!;
    expect(decodeRecord(withBig.data).ev.length).toBe(1);
    expect(recs.flatMap((r) => decodeRecord(r.data).ev).length).toBe(5);
  });

  it('refuses an event that cannot fit in any Kinesis record (1 MiB)', () => {
    const huge: DiscreteEvent = { k: 'rules', e: 1, n: 1, t: 1, hunt: 'h', hash: 'x', rules: { id: 'h', name: 'x'.repeat(1024 * 1024), treasures: [] } as never };
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

  it('a user record alone adds at most ALONE_OVERHEAD_MAX bytes to its data (the writer measures only records nearer the limit)', () => {
    const packer = new RecordPacker(ShardLayout.uniform(4), 25 * 1024, 500, 5 * 1024 * 1024);
    let most = 0;
    for (const vb of [0, 1, 0x7fffffff, 0xfffffffe, 0xffffffff, 123_456_789]) {
      for (const size of [0, 100, 127, 128, 16_383, 16_384, 1024 * 1024 - 200, 1024 * 1024]) {
        const rec = { key: 'k', bucket: 0, data: Buffer.alloc(size) };
        most = Math.max(most, packer.aloneSize({ rec, at: 0, vb }) - size);
      }
    }
    expect(most).toBeGreaterThan(ALONE_OVERHEAD_MAX / 2);
    expect(most).toBeLessThanOrEqual(ALONE_OVERHEAD_MAX);
  });

  it('writes each part as encodeRecord does, over the bounds of every number form, string form, and part count', () => {
    const nums = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -0.5, 1_764_331_299_999.5, 2 ** 53 - 1, -0];
    // Decoded without the reader's header checks (epochs and seqs here go past what it accepts).
    const same = (r: UserRecord) => expect(r.data.toString('hex')).toBe(encodeRecord(decodeRaw(r.data) as EventRecord).toString('hex'));
    for (const server of [1, 31, 32, 64].map((n) => 's'.repeat(n))) {
      for (const v of nums) {
        for (const scheme of [new PartitionScheme(1), new PartitionScheme(3)]) {
          for (const r of batchToRecords({ server, epoch: v, seq: Math.abs(v) || 1, wm: v }, joins(2), { scheme })) same(r);
          for (const r of batchToRecords({ server, epoch: 1, seq: 1, wm: v }, [], { scheme, moves: encodeMoves(movesOf(3)) })) same(r);
        }
      }
    }
    // Part indexes and counts past one byte (about 15 joins a part).
    const many = batchToRecords({ server: 'srv-a', epoch: 1, seq: 2, wm: 3 }, joins(5000), { scheme: new PartitionScheme(1), targetBytes: 1024, moves: encodeMoves(movesOf(5)) });
    expect(many.length).toBeGreaterThan(0x100);
    for (const r of many) same(r);
  });
});

