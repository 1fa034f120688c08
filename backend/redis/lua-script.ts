/**
 * A Redis Lua script kept in its own file under worker/lua/ or gateway/lua/
 * (bullmq style: `name-N.lua`, N = number of KEYS unless the script takes a variable
 * number, then `name.lua` and the caller passes numKeys). Loaded once, called by SHA,
 * reloaded if the server lost its script cache (NOSCRIPT after a restart).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Past this many keys and arguments a script call passes them as one array. */
const SPREAD_LIMIT = 1000;

export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(readonly file: string) {
    this.source = readFileSync(file, 'utf8');
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    if (keys.length + args.length > SPREAD_LIMIT) return await this.runLarge(redis, keys, args);
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }

  /**
   * Arguments as one array: spreading them into a call overflows V8's stack past about
   * 120 k arguments, and a window commit with 230 k finds passes about that many
   * (#5 benchmark; reproduced: RangeError).
   */
  private async runLarge(redis: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
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
