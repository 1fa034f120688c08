import { describe, expect, it } from 'vitest';
import { batchEvents, decodePluginMessage, type Batch, type DeltaEvent, type WireEvent } from '../../protocol/index.js';
import { Outbox } from '../../plugin/outbox.js';

const join = (n: number, t = 1): WireEvent => ({ k: 'join', e: 7, n, t, p: `p${n}`, i: n });
const delta = (i: number, t: number, f: Partial<DeltaEvent>): DeltaEvent => ({ k: 'delta', t, i, ...f });
const decode = (frame: Buffer) => {
  const b = decodePluginMessage(frame) as Batch;
  return { ...b, ev: batchEvents(b) };
};

describe('Outbox batch formation', () => {
  it('numbers batches 1, 2, 3 and splits by event count; only the last batch of a flush carries the new watermark', () => {
    const o = new Outbox({ batchMaxEvents: 2 });
    const first = o.form([join(1)], 100);
    expect(first.map((b) => [b.seq, b.wm])).toEqual([[1, 100]]);
    const formed = o.form([join(2), join(3), join(4), join(5), join(6)], 200);
    expect(formed.map((b) => [b.seq, b.wm, b.events!.length])).toEqual([
      [2, 100, 2],
      [3, 100, 2],
      [4, 200, 1],
    ]);
    expect(decode(formed[0]!.frame)).toMatchObject({ seq: 2, wm: 100, ev: [join(2), join(3)] });
  });

  it('splits by encoded bytes, keeping the order of events', () => {
    const o = new Outbox({ batchMaxEvents: 500, batchMaxBytes: 1024 });
    const events = Array.from({ length: 60 }, (_, k) => ({ ...join(k + 1), p: `player-with-a-longish-name-${k}` }));
    const formed = o.form(events, 50);
    expect(formed.length).toBeGreaterThan(1);
    for (const b of formed) expect(b.frame.length).toBeLessThanOrEqual(1024);
    expect(formed.flatMap((b) => decode(b.frame).ev)).toEqual(events);
    expect(formed.map((b) => b.wm)).toEqual([...formed.slice(0, -1).map(() => 0), 50]);
    expect(formed.map((b) => b.seq)).toEqual(formed.map((_, k) => k + 1));
  });

  it('never moves the watermark backwards, and forms an empty batch only when it advances', () => {
    const o = new Outbox();
    o.form([], 100);
    expect(o.form([], 100)).toEqual([]);
    expect(o.form([], 90)).toEqual([]);
    const [b] = o.form([join(1)], 80);
    expect(b!.wm).toBe(100);
    expect(o.form([], 101).map((x) => x.wm)).toEqual([101]);
  });

  it('ack removes every batch up to seq, and drain resolves when everything formed is acked', async () => {
    const o = new Outbox();
    for (let k = 1; k <= 3; k++) o.form([join(k)], k * 10);
    let drained = false;
    const p = o.drain().then(() => (drained = true));
    expect(o.ack(2)).toBe(2);
    await Promise.resolve();
    expect(drained).toBe(false);
    expect(o.size).toBe(1);
    o.ack(3);
    await p;
    expect(drained).toBe(true);
    expect(o.bytes).toBe(0);
    await o.drain(); // nothing outstanding: at once
  });

  it('rewind sends again from the oldest unacked batch, honouring the in-flight bound', () => {
    const o = new Outbox();
    for (let k = 1; k <= 3; k++) o.form([join(k)], k);
    const sent: number[] = [];
    for (let b = o.next(1e9); b; b = o.next(1e9)) {
      o.markSent(b);
      sent.push(b.seq);
    }
    o.ack(1);
    o.rewind();
    const big = o.next(1)!;
    o.markSent(big);
    expect(o.next(1)).toBeUndefined(); // one batch always goes, the next waits for room
    expect([...sent, big.seq]).toEqual([1, 2, 3, 2]);
  });
});

describe('Outbox backpressure', () => {
  it('over its bound, merges deltas of unsent batches to the latest state per player and keeps every discrete event', async () => {
    const o = new Outbox({ maxBytes: 400 });
    o.form([join(1), delta(1, 1, { region: 'r1', x: 1, y: 2, z: 3 })], 1);
    o.form([delta(1, 2, { x: 5 }), join(2), delta(2, 2, { region: 'r2', x: 0, y: 0, z: 0 })], 2);
    expect(o.full).toBe(false);
    let t = 3;
    for (let k = 0; k < 20 && !o.full; k++, t++) o.form([delta(1, t, { z: t }), delta(2, t, { y: t })], t);
    // crossing the bound compacted the unsent batches
    expect(o.merged).toBeGreaterThan(0);
    const events: WireEvent[] = [];
    for (let b = o.next(1e9); b; b = o.next(1e9)) {
      events.push(...decode(b.frame).ev);
      o.markSent(b);
    }
    expect(events.filter((e) => e.k === 'join')).toEqual([join(1), join(2)]);
    const deltas = events.filter((e): e is DeltaEvent => e.k === 'delta');
    expect(deltas).toHaveLength(2);
    const last = t - 1;
    expect(deltas.find((d) => d.i === 1)).toEqual({ k: 'delta', t: last, i: 1, region: 'r1', x: 5, y: 2, z: last });
    expect(deltas.find((d) => d.i === 2)).toEqual({ k: 'delta', t: last, i: 2, region: 'r2', x: 0, y: last, z: 0 });
  });

  it('never changes a batch that was already sent', () => {
    const o = new Outbox({ maxBytes: 200 });
    o.form([delta(1, 1, { region: 'r1', x: 1, y: 1, z: 1 })], 1);
    const sent = o.next(1e9)!;
    const bytes = Buffer.from(sent.frame);
    o.markSent(sent);
    for (let t = 2; t < 30; t++) o.form([delta(1, t, { x: t })], t);
    expect(o.merged).toBeGreaterThan(0);
    expect(sent.frame.equals(bytes)).toBe(true);
  });

  it('waitForCapacity resolves at once under the bound, and after acks bring it back under', async () => {
    const o = new Outbox({ maxBytes: 300 });
    await o.waitForCapacity();
    for (let n = 1; !o.full; n++) o.form([join(n)], n);
    let ok = false;
    const p = o.waitForCapacity().then(() => (ok = true));
    await Promise.resolve();
    expect(ok).toBe(false);
    o.ack(o.lastSeq);
    await p;
    expect(ok).toBe(true);
  });

  it('close rejects the waiters', async () => {
    const o = new Outbox();
    o.form([join(1)], 1);
    const p = o.drain();
    o.close(new Error('stopped'));
    await expect(p).rejects.toThrow('stopped');
  });

  it('rejects batch bounds beyond the protocol limits', () => {
    expect(() => new Outbox({ batchMaxEvents: 5000 })).toThrow(/MAX_BATCH_EVENTS/);
    expect(() => new Outbox({ batchMaxBytes: 2 * 1024 * 1024 })).toThrow(/MAX_FRAME_BYTES/);
  });
});
