/**
 * Bounded disk: the spill file stops taking all but hunt control events at its cap, and a
 * full disk (ENOSPC, injected through the files' write seams) neither tears a file nor loses
 * a control event, a record already written, or a prize record.
 */
import { readFileSync, writeSync as nodeWrite } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Op, type DiscreteEvent } from '../../protocol/index.js';
import { Outbox } from '../../plugin/outbox.js';
import { LEDGER_FILE, nodeLedgerIo, PrizeLedger, type LedgerIo } from '../../plugin/prize-ledger.js';
import { Spill, SPILL_FILE } from '../../plugin/spill/spill-file.js';
import { Spillway } from '../../plugin/spill/spillway.js';
import { FakeHost } from './support/fake-host.js';

const join_ = (n: number): DiscreteEvent => ({ k: 'join', e: 7, n, t: 1000 + n, p: `p${n}`, i: n });
const stop_ = (n: number): DiscreteEvent => ({ k: 'stop', e: 7, n, t: 1000 + n, p: 'admin', hunt: 'spring' });
const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-disk-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function spillway(spill: Spill) {
  const outbox = new Outbox({ maxBytes: 1024 * 1024 });
  const counts = { discrete: 0, batches: 0, spilled: 0 };
  const way = new Spillway({ spill, outbox, link: { pump: () => undefined }, counts, onPause: () => undefined });
  return { way, outbox, counts };
}

const readBack = (spill: Spill) => {
  const out: number[] = [];
  for (let r = spill.next(); r; r = spill.next()) out.push(...r.ev.map((e) => e.n));
  return out;
};

describe('spill file cap', () => {
  it('past spillMaxBytes keeps only start/stop/rules, drops and counts the rest, and takes everything again once emptied', () => {
    const spill = Spill.open(dir, { maxBytes: 150 });
    const { way, counts } = spillway(spill);
    way.divert([join_(1), join_(2), join_(3)], 1003); // under the cap: all written (the file may pass it by one flush)
    expect(spill.bytes).toBeGreaterThanOrEqual(150);
    way.divert([join_(4), stop_(5), join_(6)], 1006);
    expect({ dropped: way.dropped, spilled: counts.spilled }).toEqual({ dropped: 2, spilled: 4 });
    expect(readBack(spill)).toEqual([1, 2, 3, 5]);
    spill.formed(0);
    expect(spill.release(0)).toBe(true);
    way.divert([join_(7)], 1007);
    expect(way.dropped).toBe(2);
    expect(readBack(spill)).toEqual([7]);
    spill.close();
  });
});

describe('ENOSPC', () => {
  it('spill: a failed append is cut back off the file; control events stay in memory, the rest is dropped and counted', () => {
    let full = false;
    const spill = Spill.open(dir, {
      write: (fd, buf, off, len) => {
        if (!full) return nodeWrite(fd, buf, off, len);
        nodeWrite(fd, buf, off, Math.floor(len / 2)); // half of it reaches the disk, then it is full
        throw enospc();
      },
    });
    const { way, outbox, counts } = spillway(spill);
    way.divert([join_(1)], 1001);
    const before = readFileSync(join(dir, SPILL_FILE), 'utf8');
    full = true;
    way.divert([join_(2), stop_(3)], 1003);
    expect(readFileSync(join(dir, SPILL_FILE), 'utf8')).toBe(before); // no torn line
    expect(way.dropped).toBe(1);
    expect(outbox.unackedDiscrete().flatMap((r) => r.ev.map((e) => e.k))).toEqual(['stop']);
    expect(counts.discrete).toBe(1);
    full = false;
    way.divert([join_(4)], 1004);
    expect(readBack(spill)).toEqual([1, 4]);
    spill.close();
  });

  it('ledger: a torn write (ENOSPC mid-append) swallows no later record, and nothing is lost across a restart', async () => {
    const host = new FakeHost();
    host.online.add('p1');
    let full = false;
    const io: LedgerIo = {
      async write(fh, data) {
        if (!full) return nodeLedgerIo.write(fh, data);
        await nodeLedgerIo.write(fh, data.slice(0, Math.floor(data.length / 2)));
        throw enospc();
      },
      sync: nodeLedgerIo.sync,
    };
    const l = await PrizeLedger.open({ dataDir: dir, host, io });
    const prize = (id: string, reason: string, player = 'p1') => ({ op: Op.Prize, id, hunt: 'spring', reason, player, item: 'gold', count: 1 }) as const;
    full = true;
    await expect(l.handlePrize(prize('1-0', 'treasure:oak:1'), 'srv-a')).rejects.toThrow(/ENOSPC/);
    expect(host.given).toEqual([]); // the intent never became durable: nothing given
    full = false;
    expect(await l.handlePrize(prize('1-1', 'treasure:oak:2', 'away'), 'srv-a')).toBe('held');
    expect(await l.handlePrize(prize('2-0', 'treasure:oak:1'), 'srv-a')).toBe('granted'); // redelivered
    await l.close();
    const text = readFileSync(join(dir, LEDGER_FILE), 'utf8');
    expect(text.split('\n').filter(Boolean)).toHaveLength(4); // the torn half line + 3 records
    const after = await PrizeLedger.open({ dataDir: dir, host });
    expect(after.records().map((r) => `${r.reason} ${r.status}`)).toEqual(['treasure:oak:2 held', 'treasure:oak:1 granted']);
    expect(host.given).toHaveLength(1);
    await after.close();
  });
});

