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
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** Resolves a script file next to the calling module: `luaFile(import.meta.url, 'lua/commit-window.lua')`. */
export function luaFile(moduleUrl: string, relative: string): string {
  return new URL(relative, moduleUrl).pathname;
}
