/**
 * `hunt reload` end to end (plugin, gateway, Kinesis, worker, Redis): invalid rules change
 * nothing anywhere; valid rules switch the plugin's triggers and the worker's fold at the
 * same event time, the start of the window after the reload, so every entry is judged by the
 * same rules on both sides. Windows of 10 s from T0 (aligned): A = [T0, T0+10s), B after.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HuntRules } from '../../protocol/index.js';
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

describe('hot reload end to end', () => {
  it('invalid rules stay out everywhere; valid rules apply from the next window in the plugin and the worker alike', async () => {
    const stack = await testStack();
    cleanups.push(() => stack.cleanup());
    const huntsDir = mkdtempSync(join(tmpdir(), 'cairn-hunts-'));
    const old = tinyHunt();
    const moved: HuntRules = tinyHunt({ treasures: [{ id: 'oak', region: 'r1', at: [20, 64, 0], radius: 3, prizes: [{ ranks: '1', item: 'diamond', count: 1 }, { ranks: '2-100', item: 'apple', count: 3 }] }] });
    writeFileSync(join(huntsDir, 'tiny.json'), JSON.stringify(old));
    const host = new ReplayHost('srv-a', T0);
    const plugin = await CairnPlugin.start({ host, hunts: [old], huntsDir, dataDir: mkdtempSync(join(tmpdir(), 'cairn-data-')), gatewayUrl: stack.gateway!.url, token: 'cairn-dev-token', autoFlush: false });
    cleanups.push(() => plugin.stop(2000).then(() => {}));
    const said: string[] = [];
    const feed = (line: Parameters<ReplayHost['apply']>[0]) => plugin.accept(host.apply(line));
    const move = (t: number, player: string, x: number) => feed({ t, server: 'srv-a', type: 'move', player, region: 'r1', at: [x, 64, 0] });
    const command = (t: number, line: string) => {
      const before = host.messages.length;
      feed({ t, server: 'srv-a', type: 'command', player: 'admin', line });
      said.push(...host.messages.slice(before).filter((m) => m.player === 'admin').map((m) => m.message));
    };
    expect(T0 % 10_000).toBe(0);
    for (const [i, p] of ['admin', 'alice', 'bob', 'carol', 'dave', 'erin'].entries()) feed({ t: T0 + 1 + i, server: 'srv-a', type: 'join', player: p, perms: p === 'admin' ? ['cairn.admin'] : [] });
    command(T0 + 10, 'hunt start tiny');

    // Window A. A broken file is refused: the old rules stay in force in the plugin and the worker.
    writeFileSync(join(huntsDir, 'tiny.json'), JSON.stringify({ ...moved, treasures: [{ ...moved.treasures[0], radius: -1 }] }));
    command(T0 + 1000, 'hunt reload');
    expect(said.at(-2)).toBe('Reload refused; the old rules stay in force. 1 problem:');
    move(T0 + 1500, 'erin', 0); // erin finds the old oak: rank 1, old rules' prize

    // The valid reload at T0+2s: in force from window B (T0+10s) on, on both sides.
    writeFileSync(join(huntsDir, 'tiny.json'), JSON.stringify(moved));
    command(T0 + 2000, 'hunt reload');
    expect(said.at(-1)).toBe('Reloaded 1 hunt; changed: tiny (running hunts use them from the next window).');
    move(T0 + 3000, 'alice', 0); // the old oak, still in force: alice is rank 2 (bread)
    move(T0 + 4000, 'bob', 20); // where the new oak will be: nothing there yet
    move(T0 + 5000, 'bob', 40); // bob walks on before the switch
    move(T0 + 9999, 'dave', 40);

    // Window B: the new rules.
    move(T0 + 10_000, 'carol', 20); // the first sample at the boundary: the new oak, rank 3 (apple)
    move(T0 + 11_000, 'dave', 0); // the old oak is gone: nothing
    move(T0 + 12_000, 'bob', 20); // bob comes back: rank 4 (apple)

    const end = T0 + 20_000;
    host.setTime(end);
    plugin.flush({ force: true });
    await plugin.waitClosed('tiny', end);
    await waitFor(() => plugin.prizes().length === 4);
    const got = plugin
      .prizes()
      .map((p) => `${p.reason} ${p.player} ${p.count}x${p.item}`)
      .sort();
    expect(got).toEqual(['treasure:oak:1 erin 5xgold', 'treasure:oak:2 alice 1xbread', 'treasure:oak:3 carol 3xapple', 'treasure:oak:4 bob 3xapple']);
  });
});
