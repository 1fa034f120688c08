import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTrace, summarizeTrace } from '../../plugin/hosts/trace.js';

function traceFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cairn-trace-test-')), 'trace.ndjson');
  writeFileSync(file, text);
  return file;
}

const good = [
  '{"t":1000,"server":"srv-a","type":"join","player":"p1","perms":["cairn.admin"]}',
  '{"t":1050,"server":"srv-a","type":"move","player":"p1","region":"r1","at":[10.5,64,-20.25]}',
  '',
  '{"t":1060,"server":"srv-b","type":"command","player":"p2","line":"hunt start spring"}',
  '{"t":1070,"server":"srv-a","type":"leave","player":"p1"}',
].join('\n');

describe('trace reader', () => {
  it('reads a valid trace and summarises it', async () => {
    const file = traceFile(good);
    const lines = [];
    for await (const l of readTrace(file)) lines.push(l);
    expect(lines.map((l) => [l.lineNo, l.type])).toEqual([[1, 'join'], [2, 'move'], [4, 'command'], [5, 'leave']]);
    expect(await summarizeTrace(file)).toEqual({ servers: ['srv-a', 'srv-b'], lines: 4, firstT: 1000, lastT: 1070 });
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{"t":1,', /:2: not valid JSON/],
    ['missing at', '{"t":2000,"server":"s","type":"move","player":"p","region":"r"}', /:2: "at" must be \[x, y, z\] numbers/],
    ['unknown type', '{"t":2000,"server":"s","type":"fly","player":"p"}', /:2: "type" must be one of/],
    ['out of order', '{"t":5,"server":"s","type":"leave","player":"p"}', /:2: "t" 5 is earlier than the previous line's 1000/],
    ['bad server id', '{"t":2000,"server":"a b","type":"leave","player":"p"}', /:2: "server" must be/],
  ];
  for (const [name, line, msg] of bad) {
    it(`names the line that is wrong: ${name}`, async () => {
      const file = traceFile(`{"t":1000,"server":"s","type":"join","player":"p"}\n${line}\n`);
      await expect(summarizeTrace(file)).rejects.toThrow(msg);
      await expect(summarizeTrace(file)).rejects.toThrow(file);
    });
  }

  it('refuses an empty trace and a missing file', async () => {
    await expect(summarizeTrace(traceFile('\n'))).rejects.toThrow(/the trace is empty/);
    await expect(summarizeTrace('/nonexistent/trace.ndjson')).rejects.toThrow(/file not found/);
  });
});
