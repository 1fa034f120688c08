/**
 * Issue-6 commands through the whole pipeline: leaderboard, status and clue answered
 * from the worker's state over the link; reload keeps the old rules when the new ones
 * are invalid and sends the new ones when they are valid.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CairnPlugin } from '../../plugin/cairn-plugin.js';
import { ReplayHost } from '../../plugin/hosts/replay-host.js';
import { testStack } from '../support/stack.js';
import { T0, tinyHunt } from '../support/trace-builder.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function waitFor(what: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('hunt commands end to end', () => {
  it('answers leaderboard, status and clue from the worker state; reload refuses a broken folder and applies a fixed one', async () => {
    const stack = await testStack();
    cleanups.push(() => stack.cleanup());
    const huntsDir = mkdtempSync(join(tmpdir(), 'cairn-hunts-'));
    const rules = tinyHunt({ treasures: [...tinyHunt().treasures, { id: 'elm', region: 'r1', at: [50, 64, 0], radius: 2, clue: 'By the elm', prizes: [{ ranks: '1', item: 'gem', count: 1 }] }] });
    writeFileSync(join(huntsDir, 'tiny.json'), JSON.stringify(rules, null, 2));
    const host = new ReplayHost('srv-a', T0);
    const plugin = await CairnPlugin.start({ host, hunts: [rules], huntsDir, dataDir: mkdtempSync(join(tmpdir(), 'cairn-data-')), gatewayUrl: stack.gateway!.url, token: 'cairn-dev-token', autoFlush: false });
    cleanups.push(() => plugin.stop(2000).then(() => {}));
    const feed = (line: Parameters<ReplayHost['apply']>[0]) => plugin.accept(host.apply(line));
    feed({ t: T0 + 1, server: 'srv-a', type: 'join', player: 'admin', perms: ['cairn.admin', 'cairn.play'] });
    feed({ t: T0 + 2, server: 'srv-a', type: 'join', player: 'alice', perms: ['cairn.play'] });
    feed({ t: T0 + 3, server: 'srv-a', type: 'join', player: 'bob', perms: ['cairn.play'] });
    feed({ t: T0 + 10, server: 'srv-a', type: 'command', player: 'admin', line: 'hunt start tiny' });
    feed({ t: T0 + 100, server: 'srv-a', type: 'move', player: 'alice', region: 'r1', at: [0, 64, 0] });
    feed({ t: T0 + 200, server: 'srv-a', type: 'move', player: 'bob', region: 'r1', at: [1, 64, 0] });
    feed({ t: T0 + 300, server: 'srv-a', type: 'move', player: 'bob', region: 'r1', at: [50, 64, 0] });
    const end = (Math.floor((T0 + 300) / 10_000) + 1) * 10_000;
    host.setTime(end);
    plugin.flush({ force: true });
    await plugin.waitClosed('tiny', end);

    const said = (player: string) => host.messages.filter((m) => m.player === player).map((m) => m.message);
    const ask = async (player: string, line: string, expectLines: number) => {
      const before = said(player).length;
      plugin.accept(host.apply({ t: host.now(), server: 'srv-a', type: 'command', player, line }));
      await waitFor(() => said(player).length >= before + expectLines);
      return said(player).slice(before);
    };

    const board = await ask('alice', 'hunt leaderboard tiny', 4);
    expect(board[1]).toMatch(/^\s+1\. bob - 2 found/);
    expect(board[2]).toMatch(/^\s+2\. alice - 1 found/);
    expect(board[3]).toBe('You are #2 with 1 found.');

    expect(await ask('alice', 'hunt clue tiny', 2)).toEqual(['Clues for Tiny:', '  elm: By the elm']);

    const status = await ask('admin', 'hunt status tiny', 3);
    expect(status[1]).toBe('tiny: running since 18:00 (started here by admin), first window closes at 18:00.');
    expect(status[2]).toMatch(/^ {2}worker: RUNNING; .* 3 finds \(oak 2, elm 1\), 0 completions, 3 prizes decided/);

    expect(await ask('alice', 'hunt status', 1)).toEqual(['You need the permission cairn.admin to use /hunt status.']);

    writeFileSync(join(huntsDir, 'tiny.json'), JSON.stringify({ ...rules, treasures: [{ ...rules.treasures[0], radius: -1 }] }, null, 2));
    const refused = await ask('admin', 'hunt reload', 2);
    expect(refused[0]).toBe('Reload refused; the old rules stay in force. 1 problem:');
    expect(refused[1]).toMatch(/tiny\.json:\d+:\d+: \/treasures\/0\/radius: must be > 0/);

    writeFileSync(join(huntsDir, 'tiny.json'), JSON.stringify({ ...rules, name: 'Tiny II' }, null, 2));
    expect(await ask('admin', 'hunt reload', 1)).toEqual(['Reloaded 1 hunt; changed: tiny (running hunts use them from the next window).']);
    expect((await ask('admin', 'hunt list', 2))[1]).toMatch(/tiny - Tiny II/);
  });
});
