/**
 * The trace reader's fast path for move lines must give exactly what JSON.parse gives, and
 * must hand every line it is not sure about to the general path (which names the error).
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoveLineScanner } from '../../plugin/hosts/trace-fast-path.js';
import { readTrace, readTraceChunks } from '../../plugin/hosts/trace.js';
import { rng } from '../../plugin/hosts/sim-host.js';

const scanner = new MoveLineScanner();
/** The scanner on a line inside a larger buffer, as the reader calls it. */
const fastTraceLine = (text: string) => {
  const b = Buffer.from(`xx\n${text}\nyy`);
  return scanner.scan(b, 3, b.length - 3);
};
const line = (at: string, extra = '') => `{"t":1795867200050,"server":"srv-a","type":"move","player":"p1","region":"r1","at":[${at}]${extra}}`;

describe('trace fast path', () => {
  it('parses move lines exactly as JSON.parse does, numbers included', () => {
    const random = rng(3);
    const nums: string[] = ['0', '-0', '1', '-1', '64', '0.1', '0.30000000000000004', '1e3', '1E-7', '-2.5e+2', '123456789012345678', '9007199254740993', '1.7976931348623157e308', '5e-324', '0.000001'];
    for (let k = 0; k < 3000; k++) {
      const v = (random() - 0.5) * 10 ** Math.floor(random() * 12 - 4);
      nums.push(String(v), v.toFixed(Math.floor(random() * 6)), String(Math.round(v * 1000) / 1000));
    }
    for (let k = 0; k < nums.length; k++) {
      const text = line(`${nums[k]},${nums[(k + 1) % nums.length]},${nums[(k + 7) % nums.length]}`);
      const fast = fastTraceLine(text);
      expect(fast, text).toBeDefined();
      expect(Object.is((fast as { at: number[] }).at[0], JSON.parse(text).at[0]), text).toBe(true);
      expect(fast, text).toEqual(JSON.parse(text));
      expect(Object.keys(fast!)).toEqual(Object.keys(JSON.parse(text)));
    }
  });

  it.each([
    ['a leading zero', line('01,2,3')],
    ['a bare dot', line('1.,2,3')],
    ['a number out of range', line('1e400,2,3')],
    ['a space', line('1, 2,3')],
    ['a trailing key', line('1,2,3', ',"x":1')],
    ['a non-ASCII region', '{"t":1,"server":"s","type":"move","player":"p","region":"ré","at":[1,2,3]}'],
    ['an escape in the region', '{"t":1,"server":"s","type":"move","player":"p","region":"r\\u0031","at":[1,2,3]}'],
    ['another key order', '{"server":"s","t":1,"type":"move","player":"p","region":"r","at":[1,2,3]}'],
    ['a fractional time', '{"t":1.5,"server":"s","type":"move","player":"p","region":"r","at":[1,2,3]}'],
    ['an invalid player id', '{"t":1,"server":"s","type":"move","player":"has space","region":"r","at":[1,2,3]}'],
    ['an empty region', '{"t":1,"server":"s","type":"move","player":"p","region":"","at":[1,2,3]}'],
    ['two points', line('1,2,3,4')],
    ['a join', '{"t":1,"server":"s","type":"join","player":"p","perms":[]}'],
    ['trailing garbage', `${line('1,2,3')}x`],
  ])('leaves %s to the general path', (_what, text) => {
    expect(fastTraceLine(text)).toBeUndefined();
  });
});

describe('trace reader', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-trace-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('splits lines on \\n, \\r\\n and a lone \\r, numbering them as readline does', async () => {
    const a = '{"t":1,"server":"s","type":"join","player":"p"}';
    const b = line('1,2,3').replace('1795867200050', '2');
    const c = '{"t":3,"server":"s","type":"leave","player":"p"}';
    const file = join(dir, 't.ndjson');
    writeFileSync(file, `${a}\r\n\n${b}\r${c}\r`);
    const got = [];
    for await (const l of readTrace(file)) got.push([l.t, l.lineNo]);
    expect(got).toEqual([
      [1, 1],
      [2, 3],
      [3, 4],
    ]);
  });

  it('reads lines that span its chunks, and names a bad line by its number', async () => {
    const file = join(dir, 'big.ndjson');
    const lines: string[] = [];
    for (let k = 0; k < 30_000; k++) lines.push(line(`${k}.25,64,-${k}`).replace('1795867200050', String(1000 + k)).replace('"r1"', `"région-${'x'.repeat(k % 50)}"`));
    writeFileSync(file, `${lines.join('\n')}\n`);
    let n = 0;
    let chunks = 0;
    for await (const chunk of readTraceChunks(file)) {
      chunks++;
      for (const l of chunk) {
        expect(l.lineNo).toBe(n + 1);
        expect(l).toMatchObject({ t: 1000 + n, at: [n + 0.25, 64, -n] });
        n++;
      }
    }
    expect(n).toBe(30_000);
    expect(chunks).toBeGreaterThan(1);
    lines[20_000] = '{"t":3,"server":"s","type":"move","player":"p","region":"r","at":[1,2]}';
    writeFileSync(file, `${lines.join('\n')}\n`);
    await expect(async () => {
      for await (const _ of readTraceChunks(file));
    }).rejects.toThrow(/:20001\b.*"at" must be \[x, y, z\]/);
  });
});
