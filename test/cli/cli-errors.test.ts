/**
 * The `cairn` command as a user meets it: wrong usage answers with the usage line (exit
 * 2), bad input names the file, line or path and what is wrong (exit 1), never a stack.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = new URL('../../bin/cairn.js', import.meta.url).pathname;
const FIXTURE = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;

async function cairn(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [BIN, ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const tmp = () => mkdtempSync(join(tmpdir(), 'cairn-cli-'));

describe('cairn command line', () => {
  it('answers an unknown command and missing options with the usage line', async () => {
    const a = await cairn(['fly']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/unknown command "fly"[\s\S]*usage: cairn <command>/);
    const b = await cairn(['replay', '--trace', 'x']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('replay needs --rules FILE');
  });

  it('check-rules: exit 0 for valid files, 1 with every problem located for invalid ones', async () => {
    const ok = await cairn(['check-rules', join(FIXTURE, 'rules.json')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('ok (oracle-hunt: 4 treasures)');
    const file = join(tmp(), 'spring.json');
    const line5 = '    { "id": "a", "region": "r", "at": [0, 0, 0], "radius": -1, "prizes": [] }';
    writeFileSync(file, `{\n  "id": "spring",\n  "name": "S",\n  "treasures": [\n${line5}\n  ]\n}\n`);
    const bad = await cairn(['check-rules', file]);
    expect(bad.code).toBe(1);
    // The position is the key the problem is about, where a modder looks first.
    expect(bad.stderr).toContain(`${file}:5:${line5.indexOf('"radius"') + 1}: /treasures/0/radius: must be > 0`);
    expect(bad.stderr).toContain('/treasures/0/prizes: must NOT have fewer than 1 items');
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  it('check-rules: speedWindowMs of 0 is an error, speedWindowMs without maxSpeed a warning', async () => {
    const file = join(tmp(), 'speed.json');
    const treasure = '{ "id": "a", "region": "r", "at": [0, 0, 0], "radius": 1, "prizes": [{ "ranks": "1", "item": "x", "count": 1 }] }';
    writeFileSync(file, `{\n  "id": "speed",\n  "name": "S",\n  "maxSpeed": 20,\n  "speedWindowMs": 0,\n  "treasures": [${treasure}]\n}\n`);
    const bad = await cairn(['check-rules', file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${file}:5:3: /speedWindowMs: must be a whole number of milliseconds from 1 to 60000 (default 1000)`);
    writeFileSync(file, `{\n  "id": "speed",\n  "name": "S",\n  "speedWindowMs": 500,\n  "treasures": [${treasure}]\n}\n`);
    const warned = await cairn(['check-rules', file]);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain(`${file}:4:3: /speedWindowMs: warning: has no effect without \`maxSpeed\``);
  });

  it('replay: an invalid rules file exits 1 naming the file, JSON path and problem', async () => {
    const rules = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(FIXTURE, 'rules.json'), 'utf8')));
    rules.treasures[1].radius = 0;
    const file = join(tmp(), 'spring.json');
    writeFileSync(file, JSON.stringify(rules, null, 2));
    const r = await cairn(['replay', '--rules', file, '--trace', join(FIXTURE, 'trace.ndjson'), '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`${file}:\\d+:\\d+: /treasures/1/radius: must be > 0`));
  });

  it('replay: an invalid trace line exits 1 naming the line, before anything starts', async () => {
    const trace = join(tmp(), 'trace.ndjson');
    writeFileSync(trace, '{"t":1,"server":"s","type":"join","player":"p"}\n{"t":2,"server":"s","type":"move","player":"p","region":"r","at":[1,2]}\n');
    const r = await cairn(['replay', '--rules', join(FIXTURE, 'rules.json'), '--trace', trace, '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${trace}:2: "at" must be [x, y, z] numbers`);
  });

  it('refuses an unknown CAIRN_ variable, naming it', async () => {
    const r = await cairn(['replay', '--rules', join(FIXTURE, 'rules.json'), '--trace', join(FIXTURE, 'trace.ndjson')], { CAIRN_REDIS_ULR: 'redis://x' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CAIRN_REDIS_ULR: unknown variable');
  });
});
