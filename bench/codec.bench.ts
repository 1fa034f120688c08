/**
 * Wire codec: a realistic batch (200 deltas + 20 discrete events) encoded and decoded
 * as the plugin frames it (protocol 2: deltas in one moves block) and decoded with our
 * hardened codec (scan + decode + validate), against the baseline of
 * JSON.stringify/JSON.parse. Figures: bytes per batch, encode and decode batches/s.
 */
import { decodePluginMessage, Op, type WireEvent } from '../protocol/index.js';
import { encodeBatch } from '../plugin/batch-encoder.js';
import { fmt, opsPerSec, type BenchResult } from './run.js';

/** The batch as the plugin holds it (the frame puts the deltas in its moves block). */
function sampleBatch(): { op: typeof Op.Batch; seq: number; wm: number; ev: WireEvent[] } {
  const ev: WireEvent[] = [];
  const t = 1795867200000;
  for (let i = 0; i < 200; i++) ev.push({ k: 'delta', t: t + i, i, x: Math.round(Math.random() * 2000) / 20, z: Math.round(Math.random() * 2000) / 20 });
  for (let i = 0; i < 20; i++) {
    ev.push({ k: 'enter', e: 1795867, n: i + 1, t: t + i * 10, p: `player-${i}`, hunt: 'spring', tr: 'oak', region: 'meadow', at: [10.25, 64, -20.5] });
  }
  return { op: Op.Batch, seq: 42, wm: t + 250, ev };
}

export async function run(): Promise<BenchResult> {
  const batch = sampleBatch();
  const mp = encodeBatch(batch.seq, batch.wm, batch.ev);
  const js = Buffer.from(JSON.stringify(batch));
  const mpEncode = opsPerSec(() => encodeBatch(batch.seq, batch.wm, batch.ev));
  const jsEncode = opsPerSec(() => Buffer.from(JSON.stringify(batch)));
  const mpDecode = opsPerSec(() => decodePluginMessage(mp));
  const jsDecode = opsPerSec(() => JSON.parse(js.toString()));
  console.log(`batch of ${batch.ev.length} events: msgpack ${fmt(mp.length)} B vs JSON ${fmt(js.length)} B (${fmt(js.length / mp.length, 2)}x smaller)`);
  console.log(`encode: msgpack ${fmt(mpEncode)}/s vs JSON ${fmt(jsEncode)}/s (${fmt(mpEncode / jsEncode, 2)}x)`);
  console.log(`decode (msgpack incl. scan + validation): ${fmt(mpDecode)}/s vs JSON.parse ${fmt(jsDecode)}/s (${fmt(mpDecode / jsDecode, 2)}x)`);
  return {
    msgpackBytes: mp.length,
    jsonBytes: js.length,
    sizeRatio: +(js.length / mp.length).toFixed(2),
    encodePerSec: Math.round(mpEncode),
    jsonEncodePerSec: Math.round(jsEncode),
    decodePerSec: Math.round(mpDecode),
    jsonDecodePerSec: Math.round(jsDecode),
  };
}
