import { describe, expect, it } from 'vitest';
import { rulesHash } from '../../protocol/index.js';
import { ADMIN_PERMISSION, HuntCommands, type EventDraft } from '../../plugin/commands.js';
import { HuntCatalog } from '../../plugin/hunt-catalog.js';
import { FakeHost } from './support/fake-host.js';
import { testHunts } from './support/hunts.js';

function setup() {
  const host = new FakeHost();
  host.grant('admin', ADMIN_PERMISSION);
  const emitted: EventDraft[] = [];
  const denied: Array<[string, string]> = [];
  const hunts = testHunts();
  const commands = new HuntCommands({
    host,
    hunts: new HuntCatalog(hunts),
    emit: (ev) => emitted.push(ev),
    onDenied: (player, sub) => denied.push([player, sub]),
  });
  return { host, emitted, denied, commands, hunts };
}

describe('hunt commands', () => {
  it('an authorised start emits a start event carrying the rules, their hash and the sample time', () => {
    const { commands, emitted, hunts, host } = setup();
    expect(commands.handle('admin', 'hunt start spring', 1234)).toBe('ok');
    expect(emitted).toEqual([{ k: 'start', t: 1234, p: 'admin', hunt: 'spring', rules: hunts[0], hash: rulesHash(hunts[0]!) }]);
    expect(host.toldTo('admin').join('\n')).toMatch(/Starting hunt spring/);
  });

  it('an authorised stop emits a stop event', () => {
    const { commands, emitted } = setup();
    expect(commands.handle('admin', '/hunt stop autumn', 99)).toBe('ok');
    expect(emitted).toEqual([{ k: 'stop', t: 99, p: 'admin', hunt: 'autumn' }]);
  });

  it('a denied start emits nothing, tells the sender why, and is counted', () => {
    const { commands, emitted, denied, host } = setup();
    expect(commands.handle('mallory', 'hunt start spring', 1)).toBe('denied');
    expect(commands.handle('mallory', 'hunt stop spring', 2)).toBe('denied');
    expect(emitted).toEqual([]);
    expect(denied).toEqual([
      ['mallory', 'start'],
      ['mallory', 'stop'],
    ]);
    expect(host.toldTo('mallory')[0]).toBe('You need the permission cairn.admin to use /hunt start.');
  });

  it('checks the permission before the arguments, so a denied sender learns no hunt ids', () => {
    const { commands, host, emitted } = setup();
    expect(commands.handle('mallory', 'hunt start nope', 1)).toBe('denied');
    expect(host.toldTo('mallory').join('\n')).not.toMatch(/spring/);
    expect(emitted).toEqual([]);
  });

  it('answers missing or extra arguments with the usage line', () => {
    const { commands, host, emitted } = setup();
    expect(commands.handle('admin', 'hunt start', 1)).toBe('usage');
    expect(commands.handle('admin', 'hunt stop a b', 1)).toBe('usage');
    expect(host.toldTo('admin')).toEqual(['Usage: /hunt start <id>', 'Usage: /hunt stop <id>']);
    expect(emitted).toEqual([]);
  });

  it('answers an unknown hunt id with the known ids', () => {
    const { commands, host, emitted } = setup();
    expect(commands.handle('admin', 'hunt start winter', 1)).toBe('ok');
    expect(host.toldTo('admin')).toEqual(['Unknown hunt "winter". Known hunts: spring, autumn.']);
    expect(emitted).toEqual([]);
  });

  it('lists hunts for admins only', () => {
    const { commands, host } = setup();
    expect(commands.handle('admin', 'hunt list', 1)).toBe('ok');
    const out = host.toldTo('admin').join('\n');
    expect(out).toMatch(/spring - Spring Hunt: 2 treasures, 60s windows/);
    expect(out).toMatch(/autumn - Autumn Hunt: 1 treasure,/);
    expect(commands.handle('bob', 'hunt list', 1)).toBe('denied');
  });

  it('help lists only what the sender may use; a bare /hunt is help', () => {
    const { commands, host } = setup();
    expect(commands.handle('bob', 'hunt', 1)).toBe('ok');
    const bob = host.toldTo('bob').join('\n');
    expect(bob).toMatch(/\/hunt help/);
    expect(bob).not.toMatch(/\/hunt start/);
    commands.handle('admin', 'hunt help', 1);
    expect(host.toldTo('admin').join('\n')).toMatch(/\/hunt start <id>/);
  });

  it('answers an unknown subcommand with the ones the sender can use', () => {
    const { commands, host } = setup();
    expect(commands.handle('bob', 'hunt frobnicate', 1)).toBe('unknown-subcommand');
    expect(host.toldTo('bob')).toEqual(['Unknown subcommand "frobnicate". Usage: /hunt <help>']);
  });

  it('leaves other commands alone', () => {
    const { commands, host, emitted } = setup();
    expect(commands.handle('admin', 'spawn', 1)).toBe('not-ours');
    expect(commands.handle('admin', 'hunting start spring', 1)).toBe('not-ours');
    expect(host.told).toEqual([]);
    expect(emitted).toEqual([]);
  });

  it('takes new subcommands (hunt-subcommands.ts adds status, clue, ...)', () => {
    const { commands, host } = setup();
    commands.register({
      name: 'clue',
      usage: '/hunt clue <hunt> <treasure>',
      description: 'shows a clue',
      minArgs: 2,
      maxArgs: 2,
      run(ctx) {
        const tr = ctx.hunts.get(ctx.args[0]!)?.rules.treasures.find((t) => t.id === ctx.args[1]);
        ctx.reply(tr?.clue ?? 'no clue');
      },
    });
    commands.handle('bob', 'hunt clue spring oak', 1);
    expect(host.toldTo('bob')).toEqual(['Beneath the old oak']);
  });
});
