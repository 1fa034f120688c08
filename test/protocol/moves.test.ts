/**
 * The moves block: golden bytes (protocol/SPEC.md's example, byte for byte), round
 * trips through the coalescer's grid, the stated error bound, and refusals.
 */
import { describe, expect, it } from 'vitest';
import { decodeMoves, encodeMoves, MAX_QUANTA, movesProblem, movesValid, MovesFormatError, type DeltaEvent } from '../../protocol/index.js';
import { Coalescer } from '../../plugin/coalescer.js';
import { rng } from '../../plugin/hosts/sim-host.js';

// protocol/SPEC.md, "The moves block": if these change, the protocol changed.
const EXAMPLE: DeltaEvent[] = [
  { k: 'delta', t: 1795867200150, i: 5, x: 11 },
  { k: 'delta', t: 1795867200123, i: 2, region: 'r1', x: 10.5, y: 64, z: -20.25 },
];
const EXAMPLE_HEX = [
  '01', // format
  '3fa999999999999a', // quantum 0.05, float64
  'fb949b90a234', // t0 = 1795867200123
  '02', // 2 entries
  '02', '0f', '02', '7231', 'a403', '8014', 'a906', // i=2, region|x|y|z, "r1", x=210 q, y=1280 q, z=-405 q
  '03', '12', '1b', '14', // i=5, x|time, t0+27, x=+10 q
].join('');

describe('moves block', () => {
  it('encodes the SPEC example to the pinned bytes, and decodes them back in index order', () => {
    const block = encodeMoves(EXAMPLE, 0.05);
    expect(block.toString('hex')).toBe(EXAMPLE_HEX);
    expect(block.length).toBe(31);
    expect(decodeMoves(Buffer.from(EXAMPLE_HEX, 'hex'))).toEqual({ quantum: 0.05, t0: 1795867200123, deltas: [EXAMPLE[1], EXAMPLE[0]] });
  });

  it('gives back exactly what the coalescer emitted, for any quantum', () => {
    for (const quantum of [0.05, 0.1, 1 / 32, 0.3, 2]) {
      const random = rng(Math.round(quantum * 1000));
      const c = new Coalescer({ quantum, minChange: quantum });
      for (let p = 0; p < 300; p++) c.join(`p${p}`, 1);
      for (let p = 0; p < 300; p++) c.move(`p${p}`, 1000 + Math.floor(random() * 250), `region-${p % 3}`, random() * 60_000 - 30_000, random() * 320 - 64, random() * 60_000 - 30_000);
      const first = c.flush();
      for (let p = 0; p < 300; p += 2) c.move(`p${p}`, 2000, `region-${p % 3}`, random() * 10, 64, -random() * 10);
      for (const deltas of [first, c.flush()]) {
        const decoded = decodeMoves(encodeMoves(deltas, quantum));
        expect(decoded.quantum).toBe(quantum);
        expect(decoded.deltas).toEqual([...deltas].sort((a, b) => a.i - b.i));
      }
    }
  });

  it('keeps every coordinate within half a quantum of the raw sample', () => {
    const random = rng(11);
    for (const quantum of [0.05, 0.01, 0.25]) {
      const c = new Coalescer({ quantum, minChange: quantum });
      const raw: number[][] = [];
      for (let p = 0; p < 500; p++) {
        c.join(`p${p}`, 1);
        raw.push([random() * 20_000 - 10_000, random() * 300, random() * 20_000 - 10_000]);
        c.move(`p${p}`, 5, 'r', raw[p]![0]!, raw[p]![1]!, raw[p]![2]!);
      }
      for (const d of decodeMoves(encodeMoves(c.flush(), quantum)).deltas) {
        const [x, y, z] = raw[d.i - 1]!;
        expect(Math.abs(d.x! - x!)).toBeLessThanOrEqual(quantum / 2 + 1e-9);
        expect(Math.abs(d.y! - y!)).toBeLessThanOrEqual(quantum / 2 + 1e-9);
        expect(Math.abs(d.z! - z!)).toBeLessThanOrEqual(quantum / 2 + 1e-9);
      }
    }
  });

  it('writes an empty block and a player twice (merged batches) in order', () => {
    expect(decodeMoves(encodeMoves([]))).toEqual({ quantum: 0.05, t0: 0, deltas: [] });
    const twice: DeltaEvent[] = [
      { k: 'delta', t: 10, i: 3, x: 1 },
      { k: 'delta', t: 12, i: 3, x: 2, region: 'r9' },
    ];
    expect(decodeMoves(encodeMoves(twice)).deltas).toEqual(twice);
  });

  it('refuses values a block cannot carry', () => {
    expect(() => encodeMoves([{ k: 'delta', t: 1, i: 1, x: 1e300 }])).toThrow(RangeError);
    expect(() => encodeMoves([{ k: 'delta', t: 1, i: 1, region: 'r'.repeat(257) }])).toThrow(/region of 257 bytes/);
    expect(() => encodeMoves([{ k: 'delta', t: -5, i: 1, x: 1 }])).toThrow(/time/);
    expect(() => encodeMoves([], 0)).toThrow(/quantum/);
  });

  it('names what is wrong with a block that does not follow the format', () => {
    const good = Buffer.from(EXAMPLE_HEX, 'hex');
    const with_ = (at: number, byte: number) => {
      const b = Buffer.from(good);
      b[at] = byte;
      return b;
    };
    expect(movesProblem(good)).toBeUndefined();
    expect(movesProblem(good.subarray(0, 5))).toMatch(/shorter than its 9-byte header/);
    expect(movesProblem(with_(0, 2))).toMatch(/format 2 is not 1/);
    expect(movesProblem(with_(1, 0xff))).toMatch(/quantum -8.98\d*e\+306 is not above 0/);
    expect(movesProblem(with_(15, 0x7f))).toMatch(/entry count 127 does not fit/);
    expect(movesProblem(with_(17, 0x4f))).toMatch(/field mask 0x4f has unknown bits/);
    expect(movesProblem(with_(18, 0))).toMatch(/region of 0 bytes/);
    expect(movesProblem(with_(19, 0xff))).toMatch(/region is not UTF-8/);
    expect(movesProblem(good.subarray(0, good.length - 1))).toMatch(/truncated/);
    expect(movesProblem(Buffer.concat([good, Buffer.from([0])]))).toMatch(/1 trailing bytes/);
    expect(movesProblem(Buffer.concat([good.subarray(0, 9), Buffer.from([0x80, 0x00])]))).toMatch(/overlong varint/);
    expect(() => decodeMoves(with_(0, 9))).toThrow(MovesFormatError);
  });

  it("accepts with the gateway's fast check exactly the blocks the decoder accepts", () => {
    const random = rng(2024);
    const int = (n: number) => Math.floor(random() * n);
    // Varints around every bound the format has: byte lengths, MAX_QUANTA, 2^53, overlong forms.
    const edges = [0, 1, 127, 128, 16383, 16384, 2 ** 31, 2 * MAX_QUANTA, 2 * MAX_QUANTA + 1, 2 * MAX_QUANTA + 2, 2 ** 53 - 1, 2 ** 53, 2 ** 56 - 1];
    const varint = (v: number): number[] => {
      const out: number[] = [];
      while (v >= 0x80) {
        out.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      out.push(v);
      if (random() < 0.03) out.push(...[0x80, 0x00].slice(0, 1 + int(2))); // an overlong or unterminated tail
      return out;
    };
    const value = () => (random() < 0.3 ? edges[int(edges.length)]! : int(random() < 0.5 ? 300 : 1e6));
    const block = (): Buffer => {
      const bytes: number[] = [1];
      const q = Buffer.alloc(8);
      q.writeDoubleBE([0.05, 0.05, 0.05, 1, 0, -1, 2e6][int(7)]!);
      bytes.push(...q);
      bytes.push(...varint(random() < 0.1 ? value() : 1_795_867_200_000 + int(1000)));
      const n = int(6);
      bytes.push(...varint(random() < 0.05 ? value() : n));
      for (let k = 0; k < n; k++) {
        const mask = random() < 0.05 ? int(256) : int(32);
        bytes.push(...varint(random() < 0.2 ? value() : int(4)), mask);
        if (mask & 16) bytes.push(...varint(random() < 0.2 ? value() : int(50)));
        if (mask & 1) {
          const len = random() < 0.1 ? [0, 256, 257][int(3)]! : 1 + int(4);
          bytes.push(...varint(len));
          for (let c = 0; c < len; c++) bytes.push(random() < 0.9 ? 0x61 + int(26) : [0xc3, 0xa9, 0xff, 0xe2, 0x82, 0xac][int(6)]!);
        }
        for (const bit of [2, 4, 8]) if (mask & bit) bytes.push(...varint(value()));
      }
      const b = Buffer.from(bytes);
      // Then, sometimes, a random edit: a byte changed, a byte dropped, a byte added, or a cut.
      const at = int(b.length);
      switch (int(6)) {
        case 0:
          b[at] = int(256);
          return b;
        case 1:
          return Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        case 2:
          return Buffer.concat([b.subarray(0, at), Buffer.from([int(256)]), b.subarray(at)]);
        case 3:
          return b.subarray(0, at);
        default:
          return b;
      }
    };
    let accepted = 0;
    for (let k = 0; k < 30_000; k++) {
      const b = block();
      let decodes = true;
      try {
        decodeMoves(b);
      } catch (err) {
        if (!(err instanceof MovesFormatError)) throw err;
        decodes = false;
      }
      if (movesValid(b) !== decodes) expect.fail(`fast check ${movesValid(b)} but decoder ${decodes} for ${b.toString('hex')}`);
      if (decodes) accepted++;
    }
    // Both outcomes are well represented.
    expect(accepted).toBeGreaterThan(3000);
    expect(accepted).toBeLessThan(27_000);
  });
});
