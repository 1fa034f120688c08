/**
 * The plugin's batch encoder writes deltas itself: its frames must be the very bytes
 * protocol/codec's `encode` (msgpackr) gives, so nothing downstream can tell them apart.
 */
import { describe, expect, it } from 'vitest';
import { decodePluginMessage, encode, Op, type DeltaEvent, type WireEvent } from '../../protocol/index.js';
import { encodeBatch } from '../../plugin/batch-encoder.js';
import { Coalescer } from '../../plugin/coalescer.js';
import { rng } from '../../plugin/hosts/sim-host.js';

const numbers = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -0.05, 12.35, 1e21, 1795867200050, Number.MAX_SAFE_INTEGER];

describe('batch encoder', () => {
  it('gives the bytes of encode() for batches of coalescer deltas and discrete events', () => {
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
      expect(ours.equals(encode({ op: Op.Batch, seq, wm, ev })), `round ${round}`).toBe(true);
    }
  });

  it('writes array headers of every size, and deltas with their fields added in another order decode the same', () => {
    for (const n of [0, 15, 16, 65535, 65536]) {
      const ev: DeltaEvent[] = Array.from({ length: n }, (_, k) => ({ k: 'delta', t: 5, i: k, x: k / 2 }));
      expect(encodeBatch(1, 2, ev).equals(encode({ op: Op.Batch, seq: 1, wm: 2, ev })), `${n} events`).toBe(true);
    }
    const merged: DeltaEvent = { k: 'delta', t: 9, i: 3, x: 1 };
    merged.region = 'r2';
    expect(decodePluginMessage(encodeBatch(1, 2, [merged]))).toEqual({ op: Op.Batch, seq: 1, wm: 2, ev: [{ k: 'delta', t: 9, i: 3, region: 'r2', x: 1 }] });
  });
});
