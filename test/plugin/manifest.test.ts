/** plugin.json declares every subcommand the plugin registers, with the same permission. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HuntCatalog } from '../../plugin/hunt-catalog.js';
import { HuntCommands } from '../../plugin/commands.js';
import { huntSubcommands, type CommandServices } from '../../plugin/hunt-subcommands.js';
import { FakeHost } from './support/fake-host.js';

const manifest = JSON.parse(readFileSync(new URL('../../plugin.json', import.meta.url), 'utf8'));

describe('plugin.json', () => {
  it('has the Hytale manifest keys', () => {
    for (const key of ['Group', 'Name', 'Version', 'Main']) expect(manifest[key], key).toEqual(expect.any(String));
  });

  it('declares every registered subcommand with its permission, and every permission node', () => {
    const commands = new HuntCommands({ host: new FakeHost(), hunts: new HuntCatalog([]), emit: () => {} });
    for (const s of huntSubcommands({} as CommandServices)) commands.register(s);
    const declared = manifest.commands.hunt.subcommands as Record<string, { permission: string; usage: string }>;
    const registered = commands.list();
    expect(Object.keys(declared).sort()).toEqual(registered.map((s) => s.name).sort());
    for (const s of registered) {
      expect(declared[s.name]!.usage, s.name).toBe(s.usage);
      if (s.permission) {
        expect(declared[s.name]!.permission, s.name).toBe(s.permission);
        expect(manifest.permissions[s.permission], s.permission).toBeDefined();
      }
    }
  });
});
