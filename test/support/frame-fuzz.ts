/**
 * Property check of the gateway's edge: random and mutated frames (valid frames with bytes
 * flipped, lengths lied about, keys duplicated, types swapped, bytes cut or inserted) go
 * through the decoder and the frame -> records path. For every input:
 * - only a ProtocolError escapes (no TypeError, RangeError, stack overflow...);
 * - no case takes long (a hang or a quadratic blow-up shows as a slow case);
 * - what is written is what was validated: every event in the records is the bytes of an
 *   event the validator accepted, the worker's reader accepts every record with no bad
 *   event, and the moves block written is the one validated;
 * - the gateway's fast reader (protocol/batch-frame.ts) accepts a frame only when the
 *   decoder accepts it as the same batch, and its records are the decoder's;
 * - Object.prototype is untouched.
 * Used by test/protocol/frame-fuzz.test.ts (bounded) and `npm run fuzz` (10^6 cases).
 */
import fc from 'fast-check';
import { batchToRecords, frameToRecords } from '../../gateway/batch-records.js';
import { PartitionScheme } from '../../backend/kinesis/partition-keys.js';
import { decodeRecord } from '../../backend/kinesis/record-format.js';
import { batchLayout, decodePluginMessage, encode, movesProblem, Op, ProtocolError, readBatchFrame, type Batch, type DeltaEvent, type DiscreteEvent, type WireEvent } from '../../protocol/index.js';
import { encodeBatch } from '../../plugin/batch-encoder.js';
import { scanMap } from '../../protocol/msgpack-scan.js';

const mp = (v: unknown): Buffer => encode(v as object);
const SLOW_CASE_MS = 1000;
const scheme = new PartitionScheme(4);
const one = new PartitionScheme(1);

const short = fc.string({ minLength: 1, maxLength: 12 });
/** Strings of discrete events: short, any Unicode, and around the 256-character limit. */
const str = fc.oneof(short, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }), fc.string({ minLength: 250, maxLength: 260 }));
const num = fc.oneof(
  { arbitrary: fc.integer(), weight: 4 },
  { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }), weight: 4 },
  { arbitrary: fc.constantFrom(0, -1, 2 ** 32, 1795867200123), weight: 4 },
  { arbitrary: fc.constantFrom(Infinity, -Infinity, NaN), weight: 1 },
);
const at = fc.tuple(num, num, num);

const discrete: fc.Arbitrary<DiscreteEvent> = fc.oneof(
  fc.record({ k: fc.constant('join' as const), e: fc.nat(), n: fc.nat(), t: num, p: str, i: fc.nat() }),
  fc.record({ k: fc.constant('leave' as const), e: fc.nat(), n: fc.nat(), t: num, p: str }),
  fc.record({ k: fc.constant('enter' as const), e: fc.nat(), n: fc.nat(), t: num, p: str, hunt: fc.constantFrom('spring', 'h-1'), tr: str, region: str, at, sus: fc.constant(1 as const) }, { requiredKeys: ['k', 'e', 'n', 't', 'p', 'hunt', 'tr', 'region', 'at'] }),
  fc.record({ k: fc.constant('start' as const), e: fc.nat(), n: fc.nat(), t: num, p: str, hunt: fc.constant('spring'), hash: str, rules: fc.constant({ id: 'spring', name: 'S', treasures: [] } as never) }),
  fc.record({ k: fc.constant('stop' as const), e: fc.nat(), n: fc.nat(), t: num, p: str, hunt: fc.constantFrom('spring', 'h_2') }),
  fc.record(
    { k: fc.constant('rules' as const), e: fc.nat(), n: fc.nat(), t: num, hunt: fc.constant('spring'), hash: str, rules: fc.oneof(fc.constant({ id: 'spring', name: 'S', treasures: [] }), fc.object({ maxDepth: 3 })) as fc.Arbitrary<never>, reload: fc.constant(1 as const) },
    { requiredKeys: ['k', 'e', 'n', 't', 'hunt', 'hash', 'rules'] },
  ),
);
const delta: fc.Arbitrary<DeltaEvent> = fc
  .record({ t: fc.integer({ min: 0, max: 2 ** 45 }), i: fc.nat({ max: 10_000 }), region: fc.option(short, { nil: undefined }), x: fc.option(fc.integer({ min: -1e6, max: 1e6 }), { nil: undefined }), z: fc.option(fc.integer({ min: -1e6, max: 1e6 }), { nil: undefined }) })
  .map(({ t, i, region, x, z }) => {
    const d: DeltaEvent = { k: 'delta', t, i };
    if (region !== undefined) d.region = region;
    if (x !== undefined) d.x = x / 20;
    if (z !== undefined) d.z = z / 20;
    return d;
  });

/** A valid batch frame as the plugin makes it. */
export const validFrame = fc
  .tuple(fc.nat({ max: 1e9 }).map((n) => n + 1), num, fc.array(discrete, { maxLength: 12 }), fc.array(delta, { maxLength: 30 }))
  .map(([seq, wm, ev, ds]) => encodeBatch(seq, Number.isFinite(wm) ? wm : 0, [...ev, ...ds] as WireEvent[]));

/** A msgpack map written entry by entry, so a key can be written twice. */
function mapOf(entries: Array<[string, Buffer]>): Buffer {
  const n = entries.length;
  const head = n < 16 ? Buffer.from([0x80 | n]) : Buffer.from([0xde, n >> 8, n & 0xff]);
  return Buffer.concat([head, ...entries.flatMap(([k, v]) => [mp(k), v])]);
}

/** A batch frame with a key written twice: at the top, or inside one event. */
const duplicateKeyFrame = fc.tuple(fc.array(discrete, { minLength: 1, maxLength: 5 }), fc.nat(), fc.boolean(), fc.anything({ maxDepth: 2, maxKeys: 4 })).map(([ev, which, top, other]) => {
  if (top) {
    const entries: Array<[string, Buffer]> = [['op', mp(Op.Batch)], ['seq', mp(1)], ['wm', mp(5)], ['ev', mp(ev)]];
    const dup = entries[which % entries.length]!;
    entries.push([dup[0], mp(other ?? 0)]);
    return mapOf(entries);
  }
  const k = which % ev.length;
  const fields = Object.entries(ev[k]!).map(([key, v]) => [key, mp(v)] as [string, Buffer]);
  fields.push([fields[which % fields.length]![0], mp(other ?? 0)]);
  const items = ev.map((e, j) => (j === k ? mapOf(fields) : mp(e)));
  const arr = Buffer.concat([Buffer.from([0x90 | items.length]), ...items]);
  return mapOf([['op', mp(Op.Batch)], ['seq', mp(1)], ['wm', mp(5)], ['ev', arr]]);
});

/** A valid batch with one field's value swapped for a value of any type. */
const swappedTypeFrame = fc.tuple(fc.array(discrete, { minLength: 1, maxLength: 5 }), fc.nat(), fc.anything({ maxDepth: 2, maxKeys: 4 })).map(([ev, which, other]) => {
  const e = { ...ev[which % ev.length]! } as Record<string, unknown>;
  const keys = Object.keys(e);
  e[keys[which % keys.length]!] = other;
  return mp({ op: Op.Batch, seq: 1, wm: 5, ev: ev.map((x, j) => (j === which % ev.length ? e : x)) });
});

/** A valid frame mutated: bytes flipped, a length lied about, bytes cut or inserted. */
const mutatedFrame = fc.tuple(validFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 4 })), { minLength: 1, maxLength: 4 })).map(([frame, muts]) => {
  let b = Buffer.from(frame);
  for (const [where, byte, kind] of muts) {
    const p = where % Math.max(1, b.length);
    if (kind === 0) b[p] = byte; // flip a byte
    else if (kind === 1) b[p] = b[p]! ^ (1 << (byte & 7)); // flip a bit
    else if (kind === 2) b = b.subarray(0, p); // cut
    else if (kind === 3) b = Buffer.concat([b.subarray(0, p), Buffer.from([byte]), b.subarray(p)]); // insert
    else {
      // lie about a length: a container or string header claiming far more than there is
      const head = [0xdc, 0xdd, 0xde, 0xdf, 0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6][byte % 10]!;
      b = Buffer.concat([b.subarray(0, p), Buffer.from([head, 0xff, 0xff, 0xff, 0xff]), b.subarray(p + 1)]);
    }
  }
  return b;
});

export const anyFrame = fc.oneof(
  { arbitrary: validFrame, weight: 2 },
  { arbitrary: mutatedFrame, weight: 4 },
  { arbitrary: duplicateKeyFrame, weight: 2 },
  { arbitrary: swappedTypeFrame, weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), weight: 1 },
);

const protoNames = Object.getOwnPropertyNames(Object.prototype).sort().join(',');

/**
 * One input through decode and frame -> records; throws an Error saying which property
 * broke. A slow case is timed again before it counts: on a loaded machine the scheduler
 * alone can stall one case for a second, while a real blow-up is slow every time.
 */
export function checkFrame(frame: Buffer): void {
  const ms = timed(frame);
  if (ms > SLOW_CASE_MS && timed(frame) > SLOW_CASE_MS) throw new Error(`a ${frame.length}-byte frame took ${ms.toFixed(0)} ms, twice`);
}

function timed(frame: Buffer): number {
  const started = performance.now();
  let msg;
  try {
    msg = decodePluginMessage(frame);
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw new Error(`decode threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
  }
  if (msg?.op === Op.Batch) checkRecords(frame, msg);
  checkFastReader(frame, msg?.op === Op.Batch ? msg : undefined);
  if (Object.getOwnPropertyNames(Object.prototype).sort().join(',') !== protoNames) throw new Error('Object.prototype changed');
  if (({} as Record<string, unknown>).polluted !== undefined) throw new Error('Object.prototype polluted');
  return performance.now() - started;
}

function checkRecords(frame: Buffer, msg: Batch): void {
  const layout = batchLayout(msg.ev);
  if (!layout || layout.frame !== frame) throw new Error('a decoded batch without its layout');
  const validated = new Map<string, number>();
  for (let j = 0; j < msg.ev.length; j++) {
    const hex = frame.subarray(layout.at[2 * j], layout.at[2 * j + 1]).toString('hex');
    validated.set(hex, (validated.get(hex) ?? 0) + 1);
  }
  let recs;
  try {
    recs = batchToRecords({ server: 'srv-f', epoch: 1, seq: msg.seq, wm: msg.wm }, msg.ev, { scheme, frame });
  } catch (err) {
    if (err instanceof ProtocolError) return; // an event beyond Kinesis's record limit: refused, not written
    throw new Error(`frame -> records threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
  }
  let movesWritten = 0;
  for (const r of recs) {
    const rec = decodeRecord(r.data);
    if (rec.badEvents !== 0) throw new Error(`an unvalidated event was written: ${rec.badReason}`);
    const at = scanMap(r.data, 'ev').elements!;
    for (let j = 0; j < at.length; j += 2) {
      const hex = r.data.subarray(at[j], at[j + 1]).toString('hex');
      const left = validated.get(hex) ?? 0;
      if (left === 0) throw new Error(`written event ${hex} is not bytes the validator saw`);
      validated.set(hex, left - 1);
    }
    if (rec.mv) {
      movesWritten++;
      if (!msg.mv || !Buffer.from(rec.mv).equals(Buffer.from(msg.mv)) || movesProblem(rec.mv)) throw new Error('the moves block written is not the one validated');
    }
  }
  if (movesWritten !== (msg.mv ? 1 : 0)) throw new Error(`moves block written ${movesWritten} times`);
  for (const [hex, left] of validated) if (left !== 0) throw new Error(`validated event ${hex} was not written`);
}

/** The fast reader agrees with the decoder on a frame it accepts: same batch, same records. */
function checkFastReader(frame: Buffer, msg: Batch | undefined): void {
  let fast;
  try {
    fast = readBatchFrame(frame);
  } catch (err) {
    throw new Error(`the fast reader threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
  }
  if (!fast) return;
  if (!msg) throw new Error('the fast reader accepted a frame the decoder refuses');
  const layout = batchLayout(msg.ev)!;
  if (fast.seq !== msg.seq || !Object.is(fast.wm, msg.wm) || fast.count !== msg.ev.length) throw new Error(`fast reader: seq ${fast.seq} wm ${fast.wm} count ${fast.count}, decoder: ${msg.seq} ${msg.wm} ${msg.ev.length}`);
  if (fast.layout.frame !== frame || fast.layout.at.join() !== layout.at.join() || String(fast.layout.moves) !== String(layout.moves)) throw new Error('fast reader: another layout than the decoder\'s');
  if (Boolean(fast.mv) !== Boolean(msg.mv) || (fast.mv && !Buffer.from(fast.mv).equals(Buffer.from(msg.mv!)))) throw new Error('fast reader: another moves block');
  if (JSON.stringify(fast.events()) !== JSON.stringify(msg.ev)) throw new Error('fast reader: its events decode to others than the decoder\'s');
  const id = { server: 'srv-f', epoch: 1, seq: msg.seq, wm: msg.wm };
  const hex = (f: () => { data: Buffer }[]) => {
    try {
      return f().map((r) => r.data.toString('hex')).join();
    } catch (err) {
      if (err instanceof ProtocolError) return err.message;
      throw err;
    }
  };
  for (const sch of [scheme, one]) {
    if (hex(() => frameToRecords(id, fast, { scheme: sch })) !== hex(() => batchToRecords(id, msg.ev, { scheme: sch, frame }))) throw new Error(`fast reader: other records (${sch.buckets} buckets)`);
  }
}

/** Runs `numRuns` cases; returns cases per second. */
export function fuzzFrames(numRuns: number, seed?: number): number {
  const started = performance.now();
  fc.assert(
    fc.property(anyFrame, (frame) => {
      checkFrame(frame);
    }),
    { numRuns, ...(seed !== undefined ? { seed } : {}) },
  );
  return (numRuns * 1000) / (performance.now() - started);
}
