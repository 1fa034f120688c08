/**
 * Every `hunt` subcommand beyond start/stop with and without permission, with wrong arguments and with an
 * unknown hunt; queries answered by a stand-in for the link.
 */
import { describe, expect, it } from 'vitest';
import { HuntCatalog } from '../../plugin/hunt-catalog.js';
import { HuntCommands } from '../../plugin/commands.js';
import { huntSubcommands, type CommandServices } from '../../plugin/hunt-subcommands.js';
import type { HuntRules } from '../../protocol/index.js';
import { FakeHost } from './support/fake-host.js';

const RULES: HuntRules = {
  id: 'spring',
  name: 'Spring Hunt',
  window: '10s',
  ordered: true,
  treasures: [
    { id: 'oak', region: 'r1', at: [0, 64, 0], radius: 3, clue: 'Beneath the old oak', prizes: [{ ranks: '1', item: 'gold', count: 1 }] },
    { id: 'well', region: 'r1', at: [20, 64, 0], radius: 3, clue: 'Where water sleeps', prizes: [{ ranks: '1', item: 'gold', count: 1 }] },
  ],
};

function setup(over: Partial<CommandServices> = {}) {
  const host = new FakeHost();
  host.online.add('admin').add('alice');
  host.grant('admin', 'cairn.admin');
  host.grant('admin', 'cairn.play');
  host.grant('alice', 'cairn.play');
  const queries: unknown[] = [];
  const services: CommandServices = {
    async query(q) {
      queries.push(q);
      if (q.q === 'status') return { running: true, windowMs: 10000, closedThrough: 1_795_867_210_000, finds: 3, finders: { oak: 2, well: 1 }, completions: 1, prizesDecided: 4, suspects: 0, lateEvents: 0, mismatchedServers: {} };
      return { players: 2, closedThrough: 1_795_867_210_000, top: [{ rank: 1, player: 'bob', found: 2, last: 1_795_867_205_000 }, { rank: 2, player: 'alice', found: 1, last: 1_795_867_206_000 }], you: { rank: 2, found: 1, last: 1, treasures: ['oak'] } };
    },
    reload: () => ({ ok: true, hunts: ['spring'], changed: [] }),
    heldPrizes: () => [{ player: 'carol', hunt: 'spring', reason: 'treasure:oak:3', item: 'bread', count: 1 }],
    uncertainPrizes: () => [],
    localRun: () => ({ state: 'unknown' }),
    resolveUncertain: async () => 'not-uncertain',
    suspects: () => [{ player: 'mallory', hunt: 'spring', treasure: 'oak', t: 1_795_867_201_000 }],
    linkStatus: () => ({ connected: true, outboxBatches: 0, batchesSent: 10, eventsSent: 5, deltasSent: 50, samples: 500 }),
    ...over,
  };
  const commands = new HuntCommands({ host, hunts: new HuntCatalog([RULES]), emit: () => {} });
  for (const s of huntSubcommands(services)) commands.register(s);
  const run = async (player: string, line: string) => {
    const before = host.told.length;
    const outcome = commands.handle(player, line, host.now());
    await new Promise((r) => setImmediate(r));
    return { outcome, said: host.told.slice(before).filter((m) => m.player === player).map((m) => m.message) };
  };
  return { host, run, queries };
}

describe('hunt subcommands', () => {
  it('denies every admin subcommand to a player without cairn.admin and tells them', async () => {
    const { run } = setup();
    for (const line of ['hunt status', 'hunt reload', 'hunt suspects spring', 'hunt prizes', 'hunt grant alice gold 1']) {
      const r = await run('alice', line);
      expect(r.outcome, line).toBe('denied');
      expect(r.said.join('\n')).toContain('You need the permission cairn.admin');
    }
  });

  it('answers wrong arguments with the usage line', async () => {
    const { run } = setup();
    expect((await run('admin', 'hunt suspects')).said).toEqual(['Usage: /hunt suspects <id>']);
    expect((await run('admin', 'hunt grant alice gold')).said).toEqual(['Usage: /hunt grant <player> <item> <count> | /hunt grant <hunt> <reason> given|give']);
    expect((await run('admin', 'hunt grant alice gold lots')).said[0]).toMatch(/^Usage: \/hunt grant .* whole number/);
    expect((await run('alice', 'hunt leaderboard spring 0')).said[0]).toMatch(/^Usage: \/hunt leaderboard <id> \[n\]/);
  });

  it('lists the known hunts for an unknown id', async () => {
    const { run } = setup();
    for (const line of ['hunt status autumn', 'hunt suspects autumn', 'hunt clue autumn', 'hunt leaderboard autumn']) {
      const player = line.includes('clue') || line.includes('leaderboard') ? 'alice' : 'admin';
      expect((await run(player, line)).said, line).toEqual(['Unknown hunt "autumn". Known hunts: spring.']);
    }
  });

  it('status shows link health, held prizes and the worker state of each hunt', async () => {
    const { run, queries } = setup();
    const { said } = await run('admin', 'hunt status');
    expect(queries).toEqual([{ q: 'status', hunt: 'spring' }]);
    expect(said[0]).toContain('Link: connected');
    expect(said[0]).toContain('Prizes held for offline players here: 1');
    expect(said[1]).toMatch(/^spring: RUNNING; windows of 10s, .* 3 finds \(oak 2, well 1\), 1 completions, 4 prizes decided/);
  });

  it('clue gives only the next treasure of an ordered hunt the player has not found', async () => {
    const { run } = setup();
    const { said } = await run('alice', 'hunt clue spring');
    expect(said).toEqual(['Clues for Spring Hunt (next treasure):', '  well: Where water sleeps']);
  });

  it('leaderboard lists the top finders and the asker\'s own rank', async () => {
    const { run, queries } = setup();
    const { said } = await run('alice', 'hunt leaderboard spring 2');
    expect(queries).toEqual([{ q: 'leaderboard', hunt: 'spring', n: 2, player: 'alice' }]);
    expect(said[1]).toMatch(/^\s+1\. bob - 2 found/);
    expect(said[3]).toBe('You are #2 with 1 found.');
  });

  it('says so when the hunt service cannot be reached', async () => {
    const { run } = setup({ query: async () => Promise.reject(new Error('link down')) });
    expect((await run('alice', 'hunt leaderboard spring')).said).toEqual(['Cannot reach the hunt service right now (link down); try again in a moment.']);
  });

  it('reload shows the errors and keeps the old rules when the new ones are invalid', async () => {
    const { run } = setup({ reload: () => ({ ok: false, errors: ['hunts/spring.json:5:7: /treasures/0/radius: must be > 0'] }) });
    const { said } = await run('admin', 'hunt reload');
    expect(said).toEqual(['Reload refused; the old rules stay in force. 1 problem:', '  hunts/spring.json:5:7: /treasures/0/radius: must be > 0']);
  });

  it('suspects and prizes list what this server recorded', async () => {
    const { run } = setup();
    expect((await run('admin', 'hunt suspects spring')).said[1]).toMatch(/mallory into oak/);
    expect((await run('admin', 'hunt prizes')).said[1]).toBe('  carol: 1 x bread (spring treasure:oak:3)');
  });

  it('prizes --uncertain lists the grants a crash interrupted, and grant <hunt> <reason> given|give resolves one', async () => {
    const resolved: unknown[] = [];
    const { run } = setup({
      uncertainPrizes: () => [{ player: 'alice', hunt: 'spring', reason: 'treasure:oak:1', item: 'gold', count: 1 }],
      resolveUncertain: async (key, how, by) => {
        resolved.push({ key, how, by });
        return key.reason === 'treasure:oak:1' ? (how === 'given' ? 'granted' : 'given-now') : 'not-uncertain';
      },
    });
    const list = (await run('admin', 'hunt prizes --uncertain')).said;
    expect(list[0]).toMatch(/^1 grant was interrupted by a crash.*\/hunt grant <hunt> <reason> given/);
    expect(list[1]).toBe('  spring treasure:oak:1: 1 x gold to alice');
    expect((await run('admin', 'hunt status')).said[0]).toMatch(/UNCERTAIN grants .*: 1\.$/);
    expect((await run('admin', 'hunt grant spring treasure:oak:1 given')).said).toEqual(['Recorded spring treasure:oak:1 as given (audited); it will not be given again.']);
    expect((await run('admin', 'hunt grant spring treasure:oak:1 give')).said).toEqual(['Gave spring treasure:oak:1 now and recorded it (audited).']);
    expect((await run('admin', 'hunt grant spring treasure:well:1 give')).said[0]).toMatch(/is not an uncertain grant/);
    expect(resolved).toEqual([
      { key: { hunt: 'spring', reason: 'treasure:oak:1' }, how: 'given', by: 'admin' },
      { key: { hunt: 'spring', reason: 'treasure:oak:1' }, how: 'give', by: 'admin' },
      { key: { hunt: 'spring', reason: 'treasure:well:1' }, how: 'give', by: 'admin' },
    ]);
    expect((await run('alice', 'hunt grant spring treasure:oak:1 give')).outcome).toBe('denied');
  });

  it('status says at once what this server knows of a start or stop, and where the worker differs', async () => {
    const { run } = setup({
      localRun: () => ({ state: 'running', since: Date.UTC(2026, 10, 29, 21, 3, 12), by: 'admin', firstWindowEnd: Date.UTC(2026, 10, 29, 21, 4) }),
      query: async () => ({ running: false, windowMs: 60000, closedThrough: 0, finds: 0, finders: {}, completions: 0, prizesDecided: 0, suspects: 0, lateEvents: 0, mismatchedServers: {} }),
    });
    const said = (await run('admin', 'hunt status spring')).said;
    expect(said[1]).toBe('spring: running since 21:03 (started here by admin), first window closes at 21:04.');
    expect(said[2]).toMatch(/^ {2}worker: not running \(differs from this server's view: .*window it falls in closes\); windows of 60s/);

    const stopped = setup({ localRun: () => ({ state: 'stopped', since: Date.UTC(2026, 10, 29, 21, 10), by: 'admin' }) });
    const s2 = (await stopped.run('admin', 'hunt status spring')).said;
    expect(s2[1]).toBe('spring: stopped at 21:10 (stopped here by admin).');
    expect(s2[2]).toMatch(/^ {2}worker: RUNNING \(differs/);
  });

  it('progress shows a player the treasures they found and what is left, never a position', async () => {
    const { run, queries } = setup();
    const r = await run('alice', 'hunt progress spring');
    expect(r.said).toEqual(['Spring Hunt: you found 1 of 2 (oak); next: well (finds count once their window closes; as of 12:00:10).']);
    expect(queries).toEqual([{ q: 'leaderboard', hunt: 'spring', n: 1, player: 'alice' }]);
    expect(r.said.join(' ')).not.toMatch(/64|radius|\[/);
    expect((await run('alice', 'hunt progress')).said).toHaveLength(1); // every loaded hunt
    expect((await run('alice', 'hunt progress nope')).said[0]).toMatch(/^Unknown hunt "nope"/);
  });

  it('grant gives items to an online player and refuses an offline one', async () => {
    const { run, host } = setup();
    expect((await run('admin', 'hunt grant alice gold 3')).said).toEqual(['Gave 3 x gold to alice (audited).']);
    expect(host.given).toEqual([{ player: 'alice', item: 'gold', count: 3 }]);
    expect((await run('admin', 'hunt grant zed gold 3')).said).toEqual(['zed is not online here; nothing was given.']);
  });
});
