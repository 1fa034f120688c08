import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkRulesText, formatRulesIssue, parseDuration, prizeForRank, rulesHash } from '../../protocol/index.js';
import { huntRulesJsonSchema } from '../../protocol/rules-json-schema.js';

const FIXTURE = new URL('../fixtures/sample-hunt/rules.json', import.meta.url).pathname;
const base = () => JSON.parse(readFileSync(FIXTURE, 'utf8'));
const check = (doc: unknown, file = 'hunts/spring.json') => checkRulesText(JSON.stringify(doc, null, 2), file);
const messages = (doc: unknown) => check(doc).issues.map(formatRulesIssue);

describe('hunt rules', () => {
  it('accepts the fixture and the shipped sample hunt', () => {
    expect(check(base()).issues).toEqual([]);
  });

  it('names file, line, JSON path and what is wrong', () => {
    const doc = base();
    doc.treasures[1].radius = 0;
    const [msg] = messages(doc);
    expect(msg).toMatch(/^hunts\/spring\.json:\d+:\d+: \/treasures\/1\/radius: must be > 0$/);
    // The line points at the radius of the second treasure in the pretty-printed file.
    const line = Number(msg!.split(':')[1]);
    expect(JSON.stringify(doc, null, 2).split('\n')[line - 1]).toContain('"radius": 0');
  });

  it('reports every error, not just the first', () => {
    const doc = base();
    doc.treasures[0].radius = -1;
    doc.treasures[2].at = [1, 2];
    delete doc.name;
    const msgs = messages(doc);
    expect(msgs.some((m) => m.includes('/treasures/0/radius'))).toBe(true);
    expect(msgs.some((m) => m.includes('/treasures/2/at'))).toBe(true);
    expect(msgs.some((m) => m.includes('missing required key `name`'))).toBe(true);
  });

  it('suggests the known key for a misspelling', () => {
    const doc = base();
    doc.treasures[0].raduis = 3;
    expect(messages(doc)).toContainEqual(expect.stringMatching(/\/treasures\/0\/raduis: `raduis`: unknown key, did you mean `radius`\?/));
  });

  it('finds what the schema cannot express', () => {
    const doc = base();
    doc.treasures[1].id = doc.treasures[0].id;
    doc.treasures[0].prizes[1].ranks = '1-3';
    doc.window = '500ms';
    doc.schedule = { start: '2026-12-02T00:00:00Z', end: '2026-12-01T00:00:00Z' };
    const msgs = messages(doc);
    expect(msgs).toContainEqual(expect.stringMatching(/\/treasures\/1\/id: duplicate treasure id "oak"/));
    expect(msgs).toContainEqual(expect.stringMatching(/\/treasures\/0\/prizes\/1\/ranks: ranks "1-3" overlap "1"/));
    expect(msgs).toContainEqual(expect.stringMatching(/\/window: must be at least 1s/));
    expect(msgs).toContainEqual(expect.stringMatching(/\/schedule\/end: must be after \/schedule\/start/));
  });

  it('reports schema and semantic problems together, in file order, without a redundant "missing" next to a misspelling', () => {
    const doc = base();
    doc.treasures[0].raduis = doc.treasures[0].radius;
    delete doc.treasures[0].radius;
    doc.treasures[1].id = doc.treasures[0].id;
    doc.window = '100ms';
    const msgs = messages(doc);
    expect(msgs).toContainEqual(expect.stringMatching(/`raduis`: unknown key, did you mean `radius`\?/));
    expect(msgs.some((m) => m.includes('missing required key `radius`'))).toBe(false);
    expect(msgs).toContainEqual(expect.stringMatching(/\/treasures\/1\/id: duplicate treasure id "oak"/));
    expect(msgs).toContainEqual(expect.stringMatching(/\/window: must be at least 1s/));
    const lines = msgs.map((m) => Number(m.split(':')[1]));
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
  });

  it('warns about ranks left without a prize but accepts the file', () => {
    const doc = base();
    doc.treasures[0].prizes = [{ ranks: '1', item: 'a', count: 1 }, { ranks: '5-6', item: 'b', count: 1 }];
    const res = check(doc);
    expect(res.rules).toBeDefined();
    expect(res.issues.map(formatRulesIssue)).toContainEqual(expect.stringMatching(/warning: ranks 2-4 get no prize/));
  });

  it('checks speedWindowMs: a whole number of ms from 1 to 60000, and only with maxSpeed', () => {
    for (const bad of [0, -5, 1.5, 60_001, '1000']) {
      const doc = { ...base(), maxSpeed: 20, speedWindowMs: bad };
      const res = check(doc);
      expect(res.rules, String(bad)).toBeUndefined();
      expect(res.issues.map(formatRulesIssue)).toEqual([expect.stringMatching(/:\d+:\d+: \/speedWindowMs: must be a whole number of milliseconds from 1 to 60000 \(default 1000\)$/)]);
    }
    expect(check({ ...base(), maxSpeed: 20, speedWindowMs: 250 }).issues).toEqual([]);
    const alone = check({ ...base(), speedWindowMs: 250 });
    expect(alone.rules).toBeDefined();
    expect(alone.issues.map(formatRulesIssue)).toEqual([expect.stringMatching(/\/speedWindowMs: warning: has no effect without `maxSpeed`$/)]);
  });

  it('reports broken JSON with its position', () => {
    const res = checkRulesText('{\n  "id": "x",\n  "name": \n}', 'a.json');
    expect(res.rules).toBeUndefined();
    expect(formatRulesIssue(res.issues[0]!)).toMatch(/^a\.json:4:1: \/: invalid JSON: ValueExpected$/);
  });

  it('parses durations and rank ranges', () => {
    expect(parseDuration('60s')).toBe(60_000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(() => parseDuration('60')).toThrow(/not a duration/);
    const prizes = base().treasures[0].prizes;
    expect(prizeForRank(prizes, 1)?.item).toBe('gold_ingot');
    expect(prizeForRank(prizes, 4)?.item).toBe('silver_coin');
    expect(prizeForRank(prizes, 100000)?.item).toBe('bread');
    expect(prizeForRank(prizes, 100001)).toBeUndefined();
  });

  it('hashes content, not key order', () => {
    const a = base();
    const b = Object.fromEntries(Object.entries(structuredClone(a)).reverse()) as typeof a;
    expect(rulesHash(a)).toBe(rulesHash(b));
    b.treasures[0].radius = 4;
    expect(rulesHash(a)).not.toBe(rulesHash(b));
  });

  it('publishes an up-to-date JSON Schema (run `npx cairn schema` after changing protocol/rules-schema.ts)', () => {
    const committed = readFileSync(new URL('../../schema/hunt-rules.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(huntRulesJsonSchema());
  });
});
