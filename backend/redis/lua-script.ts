/**
 * A Redis Lua script kept in its own file under worker/lua/ or gateway/lua/, bullmq
 * style: `name-N.lua` where N is the number of KEYS; a script whose KEYS count varies
 * with its input has no suffix (`commit-window.lua`), and its header says how the count
 * is made up. Loaded once, called by SHA, reloaded if the server lost its script cache
 * (NOSCRIPT after a restart, or on the promoted replica after a Redis Cluster failover,
 * or on another node: EVAL then loads it there).
 *
 * Shared Lua lives in `lua/includes/` and is pulled in by a line of its own,
 *   --- @include "includes/redis-time-ms"
 * replaced with the file's text at load time (bullmq does the same), each file once per
 * script: Redis has no `require`, and one SHA must stand for the whole text.
 *
 * Each script has a `parse` that checks its reply and gives it a type, so no caller casts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Redis } from 'ioredis';

/** Past this many keys and arguments a script call passes them as one array. */
const SPREAD_LIMIT = 1000;

export type LuaArg = string | number | Buffer;

const INCLUDE = /^--- @include "([^"]+)"[ \t]*$/gm;

/** The script's text with its includes expanded, each file once (relative to `dir`). */
export function expandIncludes(source: string, dir: string, seen = new Set<string>()): string {
  return source.replace(INCLUDE, (_line, name: string) => {
    const file = resolve(dir, name.endsWith('.lua') ? name : `${name}.lua`);
    if (seen.has(file)) return '';
    seen.add(file);
    return expandIncludes(readFileSync(file, 'utf8'), dirname(file), seen).trimEnd();
  });
}

/** A reply that is not what the script's header promises: a script/code version mismatch. */
export class LuaReplyInvalid extends Error {
  constructor(file: string, raw: unknown) {
    super(`${file}: unexpected reply ${JSON.stringify(raw)?.slice(0, 200)}`);
    this.name = 'LuaReplyInvalid';
  }
}

export class LuaScript<Result = unknown, Keys extends readonly string[] = readonly string[], Args extends readonly LuaArg[] = readonly LuaArg[]> {
  readonly source: string;
  readonly sha: string;
  private readonly parse: (raw: unknown) => Result | undefined;

  /** `parse` returns undefined for a reply it does not accept; then run() throws LuaReplyInvalid. */
  constructor(readonly file: string, parse?: (raw: unknown) => Result | undefined) {
    this.source = expandIncludes(readFileSync(file, 'utf8'), dirname(file));
    this.sha = createHash('sha1').update(this.source).digest('hex');
    this.parse = parse ?? ((raw) => raw as Result);
  }

  async run(redis: Redis, keys: Keys, args: Args): Promise<Result> {
    let raw: unknown;
    for (let attempt = 1; ; attempt++) {
      try {
        raw = keys.length + args.length > SPREAD_LIMIT ? await this.runLarge(redis, keys, args) : await this.runSpread(redis, keys, args);
        break;
      } catch (err) {
        // Every Cairn script may run twice (its header says what a repeat does), so a call
        // a Redis Cluster refused during a failover is sent again.
        if (!isClusterChurn(err) || attempt >= CLUSTER_RETRIES) throw err;
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1000)));
      }
    }
    const out = this.parse(raw);
    if (out === undefined) throw new LuaReplyInvalid(this.file, raw);
    return out;
  }

  private async runSpread(redis: Redis, keys: readonly string[], args: readonly LuaArg[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }

  /**
   * Arguments as one array: spreading them into a call overflows V8's stack past about
   * 120 k arguments, and a window commit with 230 k finds passes about that many
   * (measured in the window-close benchmark: RangeError).
   */
  private async runLarge(redis: Redis, keys: readonly string[], args: readonly LuaArg[]): Promise<unknown> {
    const rest = [keys.length, ...keys, ...args];
    try {
      return await redis.call('EVALSHA', [this.sha, ...rest]);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return await redis.call('EVAL', [this.source, ...rest]);
    }
  }
}

const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.includes('NOSCRIPT');

/** Tries of a script call refused by a cluster in churn: about 20 s, past the 3.5 s a replica took to replace a killed master here. */
const CLUSTER_RETRIES = 25;

/**
 * Refusals of a Redis Cluster that is moving slots or electing a master. A script that
 * met one was not applied, or is safe to apply again.
 */
export const isClusterChurn = (err: unknown): boolean =>
  err instanceof Error && /^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING|READONLY)|Too many Cluster redirections|Connection is closed/.test(err.message);

/** Resolves a script file next to the calling module: `luaFile(import.meta.url, 'lua/commit-window.lua')`. */
export function luaFile(moduleUrl: string, relative: string): string {
  return new URL(relative, moduleUrl).pathname;
}

// --- reply parsers shared by scripts ---

/** An integer reply. */
export const intReply = (raw: unknown): number | undefined => (typeof raw === 'number' && Number.isInteger(raw) ? raw : undefined);

/** A 0/1 reply as a boolean. */
export const boolReply = (raw: unknown): boolean | undefined => (raw === 1 ? true : raw === 0 ? false : undefined);

/** An array reply of `n` integers. */
export function intsReply<N extends number>(n: N) {
  return (raw: unknown): number[] | undefined =>
    Array.isArray(raw) && raw.length === n && raw.every((x) => typeof x === 'number' && Number.isInteger(x)) ? (raw as number[]) : undefined;
}
