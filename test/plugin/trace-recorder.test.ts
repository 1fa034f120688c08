/**
 * Recording: with `recordTrace` the plugin writes the samples it accepts as a trace file in
 * the replay's format (bad samples left out), rotated by size; off by default.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Sample } from '../../plugin/host.js';
import { summarizeTrace } from '../../plugin/hosts/trace.js';
import { harness, type Harness } from './support/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await harness();
  h.host.grant('admin', 'cairn.admin');
  h.host.grant('admin', 'cairn.play');
});
afterEach(async () => {
  await h.cleanup();
});

describe('trace recording', () => {
  it('writes every accepted sample as a trace line, with the permissions of a join, and nothing of a bad sample', async () => {
    const file = join(h.dir, 'recorded.ndjson');
    const p = await h.start({ recordTrace: { file } });
    const t = h.host.clock;
    const samples: Sample[] = [
      { type: 'join', t, player: 'admin' },
      { type: 'join', t: t + 1, player: 'ann' },
      { type: 'move', t: t + 2, player: 'ann', region: 'r1', at: [10, 64, -20] },
      { type: 'move', t: t + 3, player: 'ann', region: 'r1', at: [Number.NaN, 64, -20] } as Sample, // bad: not recorded
      { type: 'command', t: t + 4, player: 'admin', line: 'hunt start spring' },
      { type: 'leave', t: t + 5, player: 'ann' },
    ];
    for (const s of samples) p.accept(s);
    await p.stop(500);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      { t, server: 'srv-a', type: 'join', player: 'admin', perms: ['cairn.admin', 'cairn.play'] },
      { t: t + 1, server: 'srv-a', type: 'join', player: 'ann', perms: [] },
      { t: t + 2, server: 'srv-a', type: 'move', player: 'ann', region: 'r1', at: [10, 64, -20] },
      { t: t + 4, server: 'srv-a', type: 'command', player: 'admin', line: 'hunt start spring' },
      { t: t + 5, server: 'srv-a', type: 'leave', player: 'ann' },
    ]);
    // The replay's own reader takes it.
    expect((await summarizeTrace(file)).servers).toEqual(['srv-a']);
  });

  it('rotates by size, keeping `keep` older files, and is off by default', async () => {
    const file = join(h.dir, 'rotated.ndjson');
    const p = await h.start({ recordTrace: { file, maxBytes: 4096, keep: 2 } });
    p.accept({ type: 'join', t: h.host.clock, player: 'ann' });
    for (let i = 0; i < 400; i++) {
      p.accept({ type: 'move', t: h.host.clock + i, player: 'ann', region: 'r1', at: [i, 64, 0] });
      if (i % 50 === 0) p.flush({ force: true });
    }
    await p.stop(500);
    expect(existsSync(`${file}.1`) && existsSync(`${file}.2`)).toBe(true);
    expect(existsSync(`${file}.3`)).toBe(false);
    const off = await h.start();
    off.accept({ type: 'join', t: h.host.clock + 1000, player: 'bob' });
    await off.stop(500);
    expect(readFileSync(file, 'utf8')).not.toContain('bob');
  });
});
