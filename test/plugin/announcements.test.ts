/**
 * Announcements: the players on the server are told when a hunt starts and stops (issued
 * here) and who won once a window's prizes are in, with the rules file's texts (a host can
 * translate them), and nothing when the hunt turns them off.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Op, type HuntRules, type Prize } from '../../protocol/index.js';
import { until } from './support/fake-gateway.js';
import { harness, type Harness } from './support/harness.js';
import { testHunts } from './support/hunts.js';

let h: Harness;
beforeEach(async () => {
  h = await harness();
  h.host.grant('admin', 'cairn.admin');
});
afterEach(async () => {
  await h.cleanup();
});

const prize = (id: string, reason: string, player: string): Prize => ({ op: Op.Prize, id, hunt: 'spring', reason, player, item: 'gold_ingot', count: 5 });

async function started(hunts: HuntRules[]) {
  const p = await h.start({ hunts });
  for (const player of ['admin', 'ann', 'bob']) {
    h.host.online.add(player);
    p.accept({ type: 'join', t: h.host.clock, player });
  }
  return p;
}

describe('announcements', () => {
  it('tells every player online here of a start, a stop and each window\'s winners, in the default texts', async () => {
    const p = await started(testHunts());
    p.accept({ type: 'leave', t: h.host.clock + 1, player: 'bob' });
    h.host.online.delete('bob');
    p.accept({ type: 'command', t: h.host.clock + 2, player: 'admin', line: 'hunt start spring' });
    expect(h.host.toldTo('ann')).toEqual(['The treasure hunt Spring Hunt has started! Type /hunt clue spring for clues.']);
    expect(h.host.toldTo('bob')).toEqual([]); // gone
    expect(h.host.toldTo('admin')).toEqual(['The treasure hunt Spring Hunt has started! Type /hunt clue spring for clues.', 'Starting hunt spring (Spring Hunt).']);

    h.gw.send(prize('1-0', 'treasure:oak:1', 'ann'));
    h.gw.send(prize('1-1', 'treasure:well:2', 'admin'));
    h.gw.send({ op: Op.WindowClosed, id: '1-2', hunt: 'spring', start: 0, end: 60_000 });
    await until(() => h.gw.prizeAcks.length === 3, 'the acks');
    await until(() => h.host.toldTo('ann').length === 3, 'the winners told');
    expect(h.host.toldTo('ann').slice(1)).toEqual(['You won 5 x gold_ingot (spring: treasure oak, rank 1)!', 'Spring Hunt: ann won 5 x gold_ingot (oak #1), admin won 5 x gold_ingot (well #2)']);
    // A window without prizes here announces nothing; a redelivered prize is not a new winner.
    h.gw.send(prize('2-0', 'treasure:oak:1', 'ann'));
    h.gw.send({ op: Op.WindowClosed, id: '2-1', hunt: 'spring', start: 60_000, end: 120_000 });
    await until(() => h.gw.prizeAcks.length === 5, 'the second acks');
    p.accept({ type: 'command', t: h.host.clock + 3, player: 'admin', line: 'hunt stop spring' });
    expect(h.host.toldTo('ann').slice(3)).toEqual(['The treasure hunt Spring Hunt is over.']);
  });

  it('uses the rules file\'s texts, and says nothing for a hunt that turns announcements off', async () => {
    const [spring, autumn] = testHunts() as [HuntRules, HuntRules];
    spring.announce = { start: 'La chasse {name} commence !', winner: '{player} ({treasure})', winners: 'Gagnants de {hunt} : {winners}' };
    autumn.announce = { enabled: false };
    const p = await started([spring, autumn]);
    p.accept({ type: 'command', t: h.host.clock + 1, player: 'admin', line: 'hunt start spring' });
    p.accept({ type: 'command', t: h.host.clock + 1, player: 'admin', line: 'hunt start autumn' });
    h.gw.send(prize('1-0', 'treasure:oak:1', 'ann'));
    h.gw.send({ op: Op.WindowClosed, id: '1-1', hunt: 'spring', start: 0, end: 60_000 });
    await until(() => h.host.toldTo('bob').length === 2, 'the winners told');
    expect(h.host.toldTo('bob')).toEqual(['La chasse Spring Hunt commence !', 'Gagnants de spring : ann (oak)']);
  });

  it('status reflects a start and a stop issued here at once', async () => {
    const p = await started(testHunts());
    const t = Date.UTC(2026, 10, 29, 21, 3, 12);
    p.accept({ type: 'command', t, player: 'admin', line: 'hunt start spring' });
    const before = h.host.told.length;
    p.accept({ type: 'command', t: t + 1, player: 'admin', line: 'hunt status spring' });
    expect(h.host.told.slice(before).map((m) => m.message)).toContain('spring: running since 21:03 (started here by admin), first window closes at 21:04.');
    p.accept({ type: 'command', t: t + 2, player: 'admin', line: 'hunt stop spring' });
    const mark = h.host.told.length;
    p.accept({ type: 'command', t: t + 3, player: 'admin', line: 'hunt status spring' });
    expect(h.host.told.slice(mark).map((m) => m.message)).toContain('spring: stopped at 21:03 (stopped here by admin).');
  });
});
