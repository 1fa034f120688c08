/**
 * What-if: `cairn replay --rules NEW --trace T --compare OLD` replays the sample fixture under
 * both rule sets and reports each prize gained, lost, moved or changed, per player, with
 * totals; `--json` adds a `diff` to the usual document and leaves the rest as it was.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { HuntRules, PrizeAward } from '../../protocol/index.js';
import { diffPrizes, renderDiff } from '../../cli/prize-diff.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/cairn.js', import.meta.url).pathname;
const FIXTURE = new URL('../fixtures/sample-hunt/', import.meta.url).pathname;

const p = (reason: string, player: string, item = 'gold', count = 1): PrizeAward => ({ hunt: 'h', reason, player, server: 's', item, count });

describe('prize diff', () => {
  it('sorts prizes into gained, lost, moved and changed, with a balance per player and totals', () => {
    const d = diffPrizes([p('treasure:a:1', 'ann'), p('treasure:a:2', 'bob'), p('treasure:b:1', 'cy'), p('completion:1', 'ann', 'crown')], [p('treasure:a:1', 'ann'), p('treasure:a:2', 'dee'), p('treasure:b:1', 'cy', 'gold', 3), p('treasure:c:1', 'bob', 'gem')]);
    expect(d.totals).toEqual({ old: 4, new: 4, unchanged: 1, gained: 1, lost: 1, moved: 1, changed: 1, players: 4 });
    expect(d.players.bob).toEqual({ gained: [expect.objectContaining({ reason: 'treasure:c:1' })], lost: [expect.objectContaining({ reason: 'treasure:a:2' })] });
    const text = renderDiff(d);
    expect(text).toContain('4 prizes under the old rules, 4 under the new: 1 unchanged, 1 gained, 1 lost, 1 moved, 1 changed; 4 players affected');
    expect(text).toContain('  > h treasure:a:2  bob -> dee  1 x gold');
    expect(text).toContain('  ~ h treasure:b:1  cy  1 x gold -> 3 x gold');
    expect(text).toContain('  ann: -1 x crown (completion:1)');
  });
});

describe('cairn replay --compare', () => {
  it('replays the sample fixture under old and new rules and reports the difference', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-compare-'));
    try {
      const rules = JSON.parse(readFileSync(join(FIXTURE, 'rules.json'), 'utf8')) as HuntRules;
      const changed = structuredClone(rules);
      changed.treasures[0]!.prizes[0]!.item = 'diamond'; // oak's first prize changes
      changed.treasures[3]!.prizes[1]!.ranks = '2'; // twin's ranks 3 and 4 win nothing any more
      changed.completion!.prizes[1]!.ranks = '2'; // completion rank 3 neither
      writeFileSync(join(dir, 'new.json'), JSON.stringify(changed));
      const { stdout } = await run('node', [BIN, 'replay', '--rules', join(dir, 'new.json'), '--compare', join(FIXTURE, 'rules.json'), '--trace', join(FIXTURE, 'trace.ndjson'), '--json'], { timeout: 240_000, maxBuffer: 64 * 1024 * 1024 });
      const doc = JSON.parse(stdout) as { prizes: PrizeAward[]; stats: object; diff: ReturnType<typeof diffPrizes> };
      const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as PrizeAward[];
      const drop = new Set(['completion:3', 'treasure:twin:3', 'treasure:twin:4']);
      const expectedNew = expected.filter((x) => !drop.has(x.reason)).map((x) => (x.reason === 'treasure:oak:1' ? { ...x, item: 'diamond' } : x));
      expect(doc.diff).toEqual(diffPrizes(expected, expectedNew));
      expect(doc.diff.totals).toMatchObject({ old: expected.length, lost: 3, changed: 1, gained: 0, moved: 0 });
      expect(Object.keys(doc).sort()).toEqual(['diff', 'prizes', 'stats']);
      expect(doc.prizes.map((x) => `${x.reason} ${x.player} ${x.item}`).sort()).toEqual(expectedNew.map((x) => `${x.reason} ${x.player} ${x.item}`).sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
