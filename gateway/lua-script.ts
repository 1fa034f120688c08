/**
 * A Redis Lua script kept in its own file under gateway/worker/lua/ or gateway/lua/
 * (bullmq style: `name-N.lua`, N = number of KEYS unless the script takes a variable
 * number, then `name.lua` and the caller passes numKeys). Loaded once, called by SHA,
 * reloaded if the server lost its script cache (NOSCRIPT after a restart).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(readonly file: string) {
    this.source = readFileSync(file, 'utf8');
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    // One array argument, not a spread: a window commit can pass 100 k+ arguments, past
    // what a JS call's argument list holds.
    const rest = [keys.length, ...keys, ...args];
    try {
      return await redis.call('EVALSHA', [this.sha, ...rest]);
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      return await redis.call('EVAL', [this.source, ...rest]);
    }
  }
}

/** Resolves a script file next to the calling module: `luaFile(import.meta.url, 'lua/commit-window.lua')`. */
export function luaFile(moduleUrl: string, relative: string): string {
  return new URL(relative, moduleUrl).pathname;
}
