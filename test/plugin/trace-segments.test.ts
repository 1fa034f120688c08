/**
 * The validating pass split into segments (and shared with helpers) must be one pass over
 * the file in all that shows: the same summary, the same lines for the replay, and for a bad
 * trace the same error, naming the same line, wherever the segment boundaries fall.
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readTrace, summarizeTrace, type TraceLine, type TraceRange } from '../../plugin/hosts/trace.js';
import { readSegment, validatedLines, validateTrace, type SegmentReader } from '../../plugin/hosts/trace-segments.js';
import { transferables } from '../../plugin/hosts/trace-blocks.js';
import { rng } from '../../plugin/hosts/sim-host.js';

/** The fields a replay reads from a line (a trace reader adds `lineNo`; unknown keys are ignored). */
const fields = (l: TraceLine) => {
  const { t, server, type, player } = l;
  switch (l.type) {
    case 'move':
      return { t, server, type, player, region: l.region, at: l.at };
    case 'join':
      return { t, server, type, player, perms: l.perms };
    case 'command':
      return { t, server, type, player, line: l.line };
    case 'inventory':
      return { t, server, type, player, item: l.item, count: l.count };
    default:
      return { t, server, type, player };
  }
};

async function oneTimeLines(file: string) {
  const out = [];
  for await (const l of readTrace(file)) out.push(fields(l));
  return out;
}

async function error(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

/** A helper as a thread is one: results pass through structured cloning, block buffers transferred. */
const cloningHelper = (): SegmentReader & { used: number } => {
  const h = {
    used: 0,
    async readSegment(file: string, range: TraceRange, keep: boolean) {
      h.used++;
      const r = await readSegment(file, range, keep);
      return structuredClone(r, { transfer: r.block ? transferables(r.block) : [] });
    },
  };
  return h;
};

describe('validating a trace in segments', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-segments-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A trace with every kind of line, blank lines, both line ends, and lines the fast path leaves alone. */
  function mixedTrace(seed: number, lines = 300): string {
    const random = rng(seed);
    const out: string[] = [];
    let t = 1000;
    for (let k = 0; k < lines; k++) {
      t += Math.floor(random() * 3);
      const server = random() < 0.5 ? 'srv-a' : 'srv-b';
      const player = `p${Math.floor(random() * 5)}`;
      const r = random();
      let text: string;
      if (r < 0.6) text = `{"t":${t},"server":"${server}","type":"move","player":"${player}","region":"r${k % 3}","at":[${(random() * 40 - 20).toFixed(3)},64,-0]}`;
      else if (r < 0.7) text = `{ "t": ${t}, "server": "${server}", "type": "move", "player": "${player}", "region": "région", "at": [1e2, 2.5, -3] }`;
      else if (r < 0.78) text = `{"t":${t},"server":"${server}","type":"join","player":"${player}"${random() < 0.5 ? ',"perms":["cairn.admin"]' : ''}}`;
      else if (r < 0.84) text = `{"t":${t},"server":"${server}","type":"leave","player":"${player}"}`;
      else if (r < 0.9) text = `{"t":${t},"server":"${server}","type":"command","player":"${player}","line":"hunt start spring"}`;
      else if (r < 0.95) text = `{"t":${t},"server":"${server}","type":"inventory","player":"${player}","item":"apple","count":2,"extra":1}`;
      else text = random() < 0.5 ? '' : '   ';
      out.push(text);
    }
    const ends = ['\n', '\n', '\n', '\r\n', '\r'];
    return out.map((l) => l + ends[Math.floor(random() * (seed % 2 === 0 ? 1 : ends.length))]!).join('');
  }

  it('gives the summary and the lines of one pass, wherever the segments are cut', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const file = join(dir, `t${seed}.ndjson`);
      writeFileSync(file, mixedTrace(seed, 50) + (seed === 4 ? '{"t":99999,"server":"s","type":"leave","player":"last"}' : ''));
      const summary = await summarizeTrace(file);
      const lines = await oneTimeLines(file);
      for (const segmentBytes of [17, 64, 100, 333, 4096, 1 << 20]) {
        for (const cacheTextBytes of [0, 700, 1 << 30]) {
          const helper = cloningHelper();
          const v = await validateTrace(file, { segmentBytes, cacheTextBytes, helpers: [helper] });
          expect(v.summary, `seed ${seed}, segments of ${segmentBytes}`).toEqual(summary);
          const got = [];
          for await (const chunk of validatedLines(v)) for (const l of chunk) got.push(fields(l));
          expect(got, `seed ${seed}, segments of ${segmentBytes}, ${cacheTextBytes} kept`).toEqual(lines);
          if (cacheTextBytes === 0) expect(v.parts.every((p) => 'range' in p)).toBe(true);
        }
      }
    }
  });

  it('names the same line and problem as one pass for a bad trace', async () => {
    const good = mixedTrace(2, 60).split('\n');
    const spliced = (ls: string[], at: number, remove: number, ...add: string[]) => {
      const copy = [...ls];
      copy.splice(at, remove, ...add);
      return copy;
    };
    const cases: [string, (ls: string[]) => string[]][] = [
      ['invalid JSON', (ls) => spliced(ls, 30, 1, '{"t":')],
      ['a missing field', (ls) => spliced(ls, 45, 1, '{"t":999999,"server":"s","type":"move","player":"p","region":"r","at":[1,2]}')],
      ['a line earlier than the one before', (ls) => spliced(ls, 20, 0, '{"t":5,"server":"s","type":"leave","player":"p"}')],
      ['an early line after blank lines', (ls) => spliced(ls, 20, 0, '', '', '{"t":5,"server":"s","type":"leave","player":"p"}')],
      ['two problems', (ls) => spliced(spliced(ls, 50, 1, '{"t":'), 10, 0, '{"t":5,"server":"s","type":"leave","player":"p"}')],
      ['a bad first line', (ls) => ['[1]', ...ls]],
      ['only blank lines', () => ['', ' ', '']],
    ];
    for (const [what, change] of cases) {
      const file = join(dir, 'bad.ndjson');
      writeFileSync(file, change(good).join('\n'));
      const expected = await error(summarizeTrace(file));
      expect(expected, what).toMatch(/^.*bad\.ndjson:\d+: /);
      for (const segmentBytes of [17, 50, 97, 200, 1000, 1 << 20]) {
        expect(await error(validateTrace(file, { segmentBytes, helpers: [cloningHelper()] })), `${what}, segments of ${segmentBytes}`).toBe(expected);
      }
    }
    expect(await error(validateTrace(join(dir, 'none.ndjson')))).toBe(await error(summarizeTrace(join(dir, 'none.ndjson'))));
  });

  it('shares the segments with a helper, and reads them itself when the helper fails', async () => {
    const file = join(dir, 't.ndjson');
    writeFileSync(file, mixedTrace(1, 2000));
    const summary = await summarizeTrace(file);
    const helper = cloningHelper();
    expect((await validateTrace(file, { segmentBytes: 1000, helpers: [helper] })).summary).toEqual(summary);
    expect(helper.used).toBeGreaterThan(0);
    let calls = 0;
    const broken: SegmentReader = {
      readSegment: async () => {
        calls++;
        throw new Error('the thread died');
      },
    };
    expect((await validateTrace(file, { segmentBytes: 1000, helpers: [broken] })).summary).toEqual(summary);
    expect(calls).toBe(1);
  });
});
