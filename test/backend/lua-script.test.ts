/**
 * The Lua script loader: includes expanded at load time, typed replies checked, and the
 * worker's scripts carrying the shared TIME include.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandIncludes, intReply, LuaReplyInvalid, LuaScript } from '../../backend/redis/lua-script.js';
import { redisTimeMs } from '../../backend/redis/time.js';
import { workerScripts } from '../../worker/scripts.js';
import { testRedis } from '../support/redis.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cairn-lua-'));
  mkdirSync(join(dir, 'includes'));
  writeFileSync(join(dir, 'includes', 'two.lua'), 'local function two() return 2 end\n');
  writeFileSync(join(dir, 'includes', 'four.lua'), '--- @include "two"\nlocal function four() return two() * 2 end\n');
  writeFileSync(join(dir, 'uses-0.lua'), '--- @include "includes/two"\n--- @include "includes/four"\nreturn four() + two()\n');
  writeFileSync(join(dir, 'text-0.lua'), "return 'not a number'\n");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('LuaScript', () => {
  it('replaces each include line with the file, nested includes too, each file once', () => {
    const src = expandIncludes('--- @include "includes/two"\n--- @include "includes/four"\nreturn four() + two()\n', dir);
    expect(src).not.toContain('@include');
    expect(src.match(/local function two\(\)/g)).toHaveLength(1);
    expect(src).toContain('local function four()');
  });

  it('runs the expanded script and gives the parsed reply; a reply the parser refuses throws', async () => {
    const r = await testRedis('lua');
    try {
      const uses = new LuaScript<number, [], []>(join(dir, 'uses-0.lua'), intReply);
      expect(await uses.run(r.redis, [], [])).toBe(6);
      await r.redis.script('FLUSH');
      expect(await uses.run(r.redis, [], [])).toBe(6); // NOSCRIPT: sent again with its text
      const text = new LuaScript<number, [], []>(join(dir, 'text-0.lua'), intReply);
      await expect(text.run(r.redis, [], [])).rejects.toBeInstanceOf(LuaReplyInvalid);
    } finally {
      await r.cleanup();
    }
  });

  it('the worker scripts that stamp Redis time carry the shared include, expanded', () => {
    const { lua } = workerScripts();
    for (const s of [lua.fanOutWindow, lua.markPart]) {
      expect(s.source).not.toContain('@include');
      expect(s.source).toContain('local function redisTimeMs()');
      expect(s.source).toContain('redisTimeMs()');
    }
  });

  it('the include and redisTimeMs() in TS read the same clock the same way', async () => {
    const r = await testRedis('luatime');
    try {
      const file = join(dir, 'now-0.lua');
      // TIME read just before and just after: when both fall in one millisecond, the include's
      // reading between them must be exactly that millisecond (else read again).
      writeFileSync(file, '--- @include "' + workerScripts().lua.commitWindow.file.replace(/commit-window\.lua$/, 'includes/redis-time-ms') + '"\nreturn { redis.call("TIME"), redisTimeMs(), redis.call("TIME") }\n');
      const script = new LuaScript(file);
      let reading: [unknown, string, unknown];
      do reading = (await script.run(r.redis, [], [])) as [unknown, string, unknown];
      while (redisTimeMs(reading[0]) !== redisTimeMs(reading[2]));
      const [before, fromLua] = reading;
      expect(fromLua).toMatch(/^\d+$/);
      expect(Number(fromLua)).toBe(redisTimeMs(before));
    } finally {
      await r.cleanup();
    }
  });
});
