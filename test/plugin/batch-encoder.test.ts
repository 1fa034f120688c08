/**
 * The plugin's batch encoder assembles frames itself: they must be the very bytes
 * protocol/codec's `encode` (msgpackr) gives for {op, seq, wm, ev, mv}, with the discrete
 * events in `ev` and the deltas in one moves block `mv`, so nothing downstream can tell
 * them apart.
 */
import { describe, expect, it } from 'vitest';
import { batchEvents, decodePluginMessage, encode, encodeMoves, MAX_QUANTA, Op, type Batch, type DeltaEvent, type DiscreteEvent, type WireEvent } from '../../protocol/index.js';
import { encodeBatch } from '../../plugin/batch-encoder.js';
import { Coalescer } from '../../plugin/coalescer.js';
import { rng } from '../../plugin/hosts/sim-host.js';

const numbers = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -0.05, 12.35, 1e21, NaN, 1795867200050, Number.MAX_SAFE_INTEGER];

/** What msgpackr gives for the batch the encoder is asked for. */
function reference(seq: number, wm: number, ev: WireEvent[], quantum = 0.05): Buffer {
  const discrete = ev.filter((e): e is DiscreteEvent => e.k !== 'delta');
  const deltas = ev.filter((e): e is DeltaEvent => e.k === 'delta');
  const msg: Batch = { op: Op.Batch, seq, wm, ev: discrete };
  if (deltas.length) msg.mv = encodeMoves(deltas, quantum);
  return encode(msg);
}

describe('batch encoder', () => {
  it('gives the bytes of encode() for batches of coalescer deltas and discrete events, and decodes back to them', () => {
    const random = rng(5);
    const c = new Coalescer();
    for (let round = 0; round < 200; round++) {
      const ev: WireEvent[] = [];
      const players = 1 + Math.floor(random() * 40);
      for (let p = 0; p < players; p++) {
        const id = `p${p}`;
        if (c.indexOf(id) === undefined) {
          const i = c.join(id, 1000);
          ev.push({ k: 'join', e: 1795867, n: round * 100 + p, t: 1795867200000 + round, p: id, i });
        }
        const pick = () => (random() < 0.3 ? numbers[Math.floor(random() * numbers.length)]! : (random() - 0.5) * 10 ** Math.floor(random() * 8));
        c.move(id, 1795867200000 + round * 50 + p, random() < 0.1 ? `région-${Math.floor(random() * 3)}` : 'r1', pick(), pick(), pick());
      }
      c.flush(ev);
      if (random() < 0.3) ev.push({ k: 'enter', e: 1795867, n: round, t: 1795867200000, p: 'p1', hunt: 'spring', tr: 'oak', region: 'r1', at: [10.25, 64, -20.5], sus: 1 });
      const seq = 1 + Math.floor(random() * 100_000);
      const wm = round % 2 ? 1795867200000 + round : round;
      const ours = encodeBatch(seq, wm, ev);
      expect(ours.equals(reference(seq, wm, ev)), `round ${round}`).toBe(true);
      const back = batchEvents(decodePluginMessage(ours) as Batch);
      const byIndex = (a: WireEvent[]) => [...a.filter((e) => e.k !== 'delta'), ...a.filter((e): e is DeltaEvent => e.k === 'delta').sort((x, y) => x.i - y.i)];
      expect(back, `round ${round}`).toEqual(byIndex(ev));
    }
    // the NaN and the 1e21 went on the grid as 0 and the largest value a block carries
    expect(c.clamped).toBeGreaterThan(0);
  });

  it('writes array and bin headers of every size, with and without a moves block', () => {
    for (const n of [0, 15, 16, 65535, 65536]) {
      const ev: WireEvent[] = Array.from({ length: n }, (_, k) => ({ k: 'delta', t: 5, i: k, x: k / 2 }));
      expect(encodeBatch(1, 2, ev).equals(reference(1, 2, ev)), `${n} deltas`).toBe(true);
      const joins: WireEvent[] = Array.from({ length: Math.min(n, 3000) }, (_, k) => ({ k: 'join', e: 1, n: k, t: 5, p: 'p', i: k }));
      expect(encodeBatch(1, 2, joins).equals(reference(1, 2, joins)), `${n} joins`).toBe(true);
    }
    expect(encodeBatch(1, 2, [{ k: 'delta', t: 9, i: 3, x: MAX_QUANTA * 0.05 }]).equals(reference(1, 2, [{ k: 'delta', t: 9, i: 3, x: MAX_QUANTA * 0.05 }]))).toBe(true);
  });

  it('carries the quantum it is given', () => {
    const ev: WireEvent[] = [{ k: 'delta', t: 9, i: 3, x: 1.25, region: 'r2' }];
    const frame = encodeBatch(1, 2, ev, 0.25);
    expect(frame.equals(reference(1, 2, ev, 0.25))).toBe(true);
    expect(batchEvents(decodePluginMessage(frame) as Batch)).toEqual(ev);
  });
});
