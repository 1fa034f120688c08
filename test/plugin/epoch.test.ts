import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bumpEpoch, readEpoch } from '../../plugin/epoch.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-epoch-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('epoch', () => {
  it('starts at the wall clock in seconds and is persisted', async () => {
    const e = await bumpEpoch(dir, 1_795_867_200_123);
    expect(e).toBe(1_795_867_200);
    expect(await readEpoch(dir)).toBe(e);
    expect((await readFile(join(dir, 'epoch'), 'utf8')).trim()).toBe(String(e));
  });

  it('grows on every start, even several within one second', async () => {
    const now = 1_795_867_200_000;
    const a = await bumpEpoch(dir, now);
    const b = await bumpEpoch(dir, now);
    const c = await bumpEpoch(dir, now + 10);
    expect(b).toBe(a + 1);
    expect(c).toBe(a + 2);
  });

  it('jumps to the wall clock when that is ahead of previous + 1', async () => {
    await bumpEpoch(dir, 1_000_000);
    expect(await bumpEpoch(dir, 5_000_000_000)).toBe(5_000_000);
  });

  it('keeps growing from the file when the wall clock went backwards', async () => {
    await writeFile(join(dir, 'epoch'), '9000000000\n');
    expect(await bumpEpoch(dir, 1_000)).toBe(9_000_000_001);
  });

  it('falls back to the wall clock when the data folder was lost or the file is garbage', async () => {
    await writeFile(join(dir, 'epoch'), 'not a number');
    expect(await bumpEpoch(dir, 7_000_000)).toBe(7_000);
    await rm(join(dir, 'epoch'));
    expect(await bumpEpoch(dir, 8_000_000)).toBe(8_000);
  });
});
