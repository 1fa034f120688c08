/**
 * An intent without an outcome (a crash between recording a grant's intent and recording what
 * giveItem did): resolved through a host that gives idempotently, or held as uncertain for an
 * admin, and never given twice without someone deciding it.
 */
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Op, prizeIdentity, type Prize, type PrizeKey } from '../../protocol/index.js';
import { LEDGER_FILE, PrizeLedger } from '../../plugin/prize-ledger.js';
import { FakeHost } from './support/fake-host.js';

const prize = (id: string, reason: string, player = 'p1'): Prize => ({ op: Op.Prize, id, hunt: 'spring', reason, player, item: 'gold_ingot', count: 5 });
const intentLine = (reason: string, player = 'p1') => `${JSON.stringify({ hunt: 'spring', reason, player, item: 'gold_ingot', count: 5, server: 'srv-a', id: '1-0', status: 'giving', at: 1 })}\n`;

/** A host that keeps the set of prize keys it applied, and gives each at most once. */
class IdempotentHost extends FakeHost {
  readonly idempotentGive = true;
  readonly applied = new Set<string>();
  override giveItem(player: string, item: string, count: number, key?: PrizeKey): boolean {
    if (key && this.applied.has(prizeIdentity(key))) return true;
    const ok = super.giveItem(player, item, count);
    if (ok && key) this.applied.add(prizeIdentity(key));
    return ok;
  }
}

describe('prize ledger: intents without an outcome', () => {
  let dir: string;
  const open: PrizeLedger[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-intents-'));
  });
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
    await rm(dir, { recursive: true, force: true });
  });
  const ledger = async (host: FakeHost) => {
    const l = await PrizeLedger.open({ dataDir: dir, host });
    open.push(l);
    return l;
  };
  const statuses = async () => (await readFile(join(dir, LEDGER_FILE), 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { status: string; by?: string }).status);

  it('with a plain host: uncertain, never given automatically, not even on redelivery or join; an admin resolves it as given or give', async () => {
    await appendFile(join(dir, LEDGER_FILE), intentLine('treasure:oak:1') + intentLine('treasure:oak:2', 'away') + intentLine('treasure:oak:3'));
    const host = new FakeHost();
    host.online.add('p1');
    const l = await ledger(host);
    expect(l.interrupted).toBe(3);
    expect(l.uncertainNow).toBe(3);
    expect(l.uncertain().map((p) => p.reason)).toEqual(['treasure:oak:1', 'treasure:oak:2', 'treasure:oak:3']);
    expect(l.views().map((v) => v.status)).toEqual(['pending', 'pending', 'pending']);
    expect(await l.handlePrize(prize('2-0', 'treasure:oak:1'), 'srv-a')).toBe('duplicate');
    const onJoin = l.group();
    onJoin.grantHeld('p1');
    expect((await onJoin.commit()).joins).toEqual([0]);
    expect(host.given).toEqual([]);

    const g = l.group();
    g.resolve({ hunt: 'spring', reason: 'treasure:oak:1' }, 'given', 'admin');
    g.resolve({ hunt: 'spring', reason: 'treasure:oak:2' }, 'give', 'admin'); // 'away' is offline: held
    g.resolve({ hunt: 'spring', reason: 'treasure:oak:3' }, 'give', 'admin');
    g.resolve({ hunt: 'spring', reason: 'treasure:oak:3' }, 'give', 'admin'); // twice: the second finds it resolved
    expect((await g.commit()).resolutions).toEqual(['granted', 'held', 'given-now', 'not-uncertain']);
    expect(host.given).toEqual([{ player: 'p1', item: 'gold_ingot', count: 5 }]);
    expect(l.uncertainNow).toBe(0);
    expect(l.held().map((p) => p.reason)).toEqual(['treasure:oak:2']);
    expect(await statuses()).toEqual(['giving', 'giving', 'giving', 'granted', 'held', 'giving', 'granted']);

    await l.close();
    const after = await ledger(host);
    expect(after.interrupted).toBe(0);
    expect(after.records().map((r) => `${r.reason} ${r.status}${r.by ? ` by ${r.by}` : ''}`)).toEqual(['treasure:oak:1 granted by admin', 'treasure:oak:2 held by admin', 'treasure:oak:3 granted by admin']);
  });

  it('with an idempotent host: asked again when the player is online, giving only what it had not given', async () => {
    await appendFile(join(dir, LEDGER_FILE), intentLine('treasure:oak:1') + intentLine('treasure:oak:2'));
    const host = new IdempotentHost();
    host.online.add('p1');
    host.applied.add('spring|treasure:oak:1'); // the crash came after this give, before its record
    host.given.push({ player: 'p1', item: 'gold_ingot', count: 5 });
    const l = await ledger(host);
    expect({ interrupted: l.interrupted, uncertain: l.uncertainNow, held: l.heldNow }).toEqual({ interrupted: 2, uncertain: 0, held: 2 });
    expect(l.playersWithHeld()).toEqual(['p1']);
    const g = l.group();
    g.grantHeld('p1');
    expect((await g.commit()).joins).toEqual([2]);
    expect(host.given).toHaveLength(2); // oak:1 once (before the crash), oak:2 once (now)
    expect(l.records().map((r) => r.status)).toEqual(['granted', 'granted']);
    expect(await statuses()).toEqual(['giving', 'giving', 'giving', 'giving', 'granted', 'granted']);
  });

  it('a resolution is refused for a prize that is not uncertain, and one whose append fails changes nothing', async () => {
    await appendFile(join(dir, LEDGER_FILE), intentLine('treasure:oak:1'));
    const host = new FakeHost();
    const l = await ledger(host);
    expect(await resolveOne(l, 'treasure:oak:9', 'given')).toBe('not-uncertain');
    await l.close();
    const broken = await PrizeLedger.open({ dataDir: dir, host, io: { write: () => Promise.reject(new Error('ENOSPC: no space left on device')), sync: async () => undefined } });
    open.push(broken);
    await expect(resolveOne(broken, 'treasure:oak:1', 'given')).rejects.toThrow(/ENOSPC/);
    expect(broken.uncertain().map((p) => p.reason)).toEqual(['treasure:oak:1']);
  });
});

async function resolveOne(l: PrizeLedger, reason: string, how: 'given' | 'give') {
  const g = l.group();
  g.resolve({ hunt: 'spring', reason }, how, 'admin');
  return (await g.commit()).resolutions[0];
}
