/** The example flying-squid server's command line (hosts/flying-squid/serve-options.ts). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RulesError } from '../../protocol/index.js';
import { parseServeArgs, ServeUsageError, type ServeOptions } from '../../hosts/flying-squid/serve-options.js';

const HUNT = 'hosts/flying-squid/example-hunt.json';
const ADAPTER = 'hosts/flying-squid/example-adapter.json';

describe('serve options', () => {
  it('reads the example hunt and adapter files, with the defaults', () => {
    const o = parseServeArgs(['--hunt', HUNT, '--adapter', ADAPTER, '--offline']) as ServeOptions;
    expect(o.hunts.map((h) => h.id)).toEqual(['meadow']);
    expect(o.adapter.regions?.map((r) => r.name)).toEqual(['grove', 'meadow']);
    expect(o).toMatchObject({ version: '1.16.5', port: 25565, offline: true, serverId: 'mc-1', gateway: undefined, host: undefined });
    expect(parseServeArgs(['--help'])).toBe('help');
  });

  it('refuses a bad command line or adapter file, saying what is wrong', () => {
    expect(() => parseServeArgs([])).toThrow(new ServeUsageError('--hunt: at least one hunt rules file is needed'));
    expect(() => parseServeArgs(['--hunt', HUNT, '--port', '70000'])).toThrow(/--port 70000: must be a port number/);
    expect(() => parseServeArgs(['--hunt', HUNT, '--port', '-1'])).toThrow(ServeUsageError);
    expect(() => parseServeArgs(['--hunt', HUNT, '--colour'])).toThrow(/Unknown option '--colour'/);
    const dir = mkdtempSync(join(tmpdir(), 'cairn-serve-'));
    writeFileSync(join(dir, 'a.json'), '{"regionz": []}');
    expect(() => parseServeArgs(['--hunt', HUNT, '--adapter', join(dir, 'a.json')])).toThrow(/unknown key "regionz" \(known: items, regions/);
    writeFileSync(join(dir, 'h.json'), '{"id": "x"}');
    expect(() => parseServeArgs(['--hunt', join(dir, 'h.json')])).toThrow(RulesError);
  });
});
