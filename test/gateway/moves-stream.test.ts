/**
 * A consumer of the Kinesis stream other than the worker: it reads a recorded stream
 * (kinesalite, written by the real gateway, KPL-aggregated, deaggregated with
 * aws-kinesis-agg) and turns each batch's moves block back into player positions with
 * protocol's `decodeMoves` alone, each block on its own. Every position it gets is within
 * half a quantum of the raw sample it came from.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeMoves, Op, type WireEvent } from '../../protocol/index.js';
import { Coalescer } from '../../plugin/coalescer.js';
import { rng } from '../../plugin/hosts/sim-host.js';
import { startHarness, type Harness } from './harness.js';
import { startKinesis, type Kinesis } from '../support/kinesis.js';
import { readEventRecords, TestClient } from './support.js';

let kinesis: Kinesis;
beforeAll(async () => {
  kinesis = await startKinesis();
});
afterAll(async () => {
  await kinesis.stop();
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('the moves blocks in the stream', () => {
  it.each([0.05, 0.25])('decode back into positions within half a quantum of the raw samples (quantum %s)', async (quantum) => {
    h = await startHarness(kinesis, {}, 2);
    const { client } = await TestClient.hello(h.gw.url, 'srv-m', 3);
    const random = rng(99);
    const c = new Coalescer({ quantum, minChange: quantum });
    const players = 60;
    const T0 = 1_795_867_200_000;
    /** raw samples by player and time */
    const raw = new Map<string, [string, number, number, number]>();
    const pos: [number, number, number][] = Array.from({ length: players }, () => [random() * 2000 - 1000, 64, random() * 2000 - 1000]);
    let n = 0;
    let seq = 0;
    const ev: WireEvent[] = [];
    for (let p = 0; p < players; p++) ev.push({ k: 'join', e: 3, n: ++n, t: T0, p: `p${p}`, i: c.join(`p${p}`, T0) });
    for (let flush = 0; flush < 20; flush++) {
      for (let tick = 0; tick < 5; tick++) {
        const t = T0 + flush * 250 + tick * 50;
        for (let p = 0; p < players; p++) {
          if (random() < 0.3) continue;
          const at = pos[p]!;
          at[0] += (random() - 0.5) * 0.5;
          at[2] += (random() - 0.5) * 0.5;
          if (random() < 0.05) at[1] += 1;
          const region = random() < 0.01 ? 'nether' : 'overworld';
          c.move(`p${p}`, t, region, at[0]!, at[1]!, at[2]!);
          raw.set(`p${p}@${t}`, [region, at[0]!, at[1]!, at[2]!]);
        }
      }
      c.flush(ev);
      client.sendBatch(++seq, ev.splice(0), T0 + flush * 250 + 249, quantum);
      expect((await client.next(Op.Ack)).seq).toBe(seq);
    }

    const records = await readEventRecords(kinesis.client, h.stream);
    const player = new Map<number, string>();
    for (const r of records) for (const e of r.ev) if (e.k === 'join') player.set(e.i, e.p);
    let checked = 0;
    const batches = new Set<number>();
    for (const r of records) {
      if (!r.mv) continue;
      batches.add(r.q);
      const block = decodeMoves(r.mv);
      expect(block.quantum).toBe(quantum);
      for (const d of block.deltas) {
        const sample = raw.get(`${player.get(d.i)}@${d.t}`);
        expect(sample, `a raw sample of session ${d.i} at ${d.t}`).toBeDefined();
        const [region, x, y, z] = sample!;
        if (d.region !== undefined) expect(d.region).toBe(region);
        for (const [got, want] of [[d.x, x], [d.y, y], [d.z, z]] as const) {
          if (got === undefined) continue;
          expect(Math.abs(got - want)).toBeLessThanOrEqual(quantum / 2 + 1e-9);
          checked++;
        }
      }
    }
    expect(batches.size).toBe(seq); // one block per batch, each in the stream once
    expect(checked).toBeGreaterThan(players * 20);
  });
});
