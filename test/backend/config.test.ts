/**
 * The environment configuration: one list of variables (ENV_VARS), every bad value
 * refused with a message naming the variable, and the help text and README held to the list.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_VARS, loadEnvConfig } from '../../backend/config.js';
import { USAGE } from '../../cli/main.js';

const documented = ENV_VARS.filter((v) => !v.testOnly);

describe('environment configuration', () => {
  it('gives the documented defaults when nothing is set, and reads what is set', () => {
    expect(loadEnvConfig({})).toEqual({
      redisUrl: 'redis://127.0.0.1:6379', redisSentinels: undefined, redisMasterName: 'mymaster', redisPrefix: 'cairn', kinesisEndpoint: undefined, kinesisStream: 'cairn-events', kinesisShards: 2,
      gatewayPort: 7070, token: 'cairn-dev-token', graceMs: 0, silentServerMs: 300_000, recordBytes: 25_600, putLingerMs: 10,
      pagePort: undefined, pageAdminToken: 'cairn-dev-token',
    });
    const c = loadEnvConfig({ CAIRN_KINESIS_SHARDS: '4', CAIRN_KINESIS_ENDPOINT: 'http://127.0.0.1:4567', CAIRN_REDIS_PREFIX: 't:1', CAIRN_PUT_LINGER_MS: '' });
    expect(c).toMatchObject({ kinesisShards: 4, kinesisEndpoint: 'http://127.0.0.1:4567', redisPrefix: 't:1', putLingerMs: 10 });
    expect(Object.isFrozen(c)).toBe(true);
    expect(loadEnvConfig({ CAIRN_REDIS_SENTINELS: '10.0.0.1:26379,sentinel-b:26380', CAIRN_REDIS_MASTER_NAME: 'cairn' })).toMatchObject({
      redisSentinels: [{ host: '10.0.0.1', port: 26379 }, { host: 'sentinel-b', port: 26380 }],
      redisMasterName: 'cairn',
    });
  });

  it.each([
    [{ CAIRN_KINESIS_SHARDS: '0' }, 'CAIRN_KINESIS_SHARDS="0": must be >= 1'],
    [{ CAIRN_GATEWAY_PORT: 'seven' }, 'CAIRN_GATEWAY_PORT="seven": must be integer'],
    [{ CAIRN_PUT_LINGER_MS: '1.5' }, 'CAIRN_PUT_LINGER_MS="1.5": must be integer'],
    [{ CAIRN_REDIS_PREFIX: 'a b' }, 'CAIRN_REDIS_PREFIX="a b": use 1-64 of A-Z a-z 0-9 _ . : -'],
    [{ CAIRN_KINESIS_STREAM: 'a/b' }, 'CAIRN_KINESIS_STREAM="a/b": a Kinesis stream name is 1-128'],
    [{ CAIRN_REDIS_URL: 'localhost:6379' }, 'CAIRN_REDIS_URL="localhost:6379": a redis:// or rediss:// URL'],
    [{ CAIRN_REDIS_SENTINELS: '10.0.0.1' }, 'CAIRN_REDIS_SENTINELS="10.0.0.1": host:port pairs separated by commas'],
    [{ CAIRN_REDIS_SENTINELS: 'a:26379,b:99999' }, 'CAIRN_REDIS_SENTINELS: b:99999: port must be 1-65535'],
    [{ CAIRN_LOG_LEVEL: 'loud' }, 'CAIRN_LOG_LEVEL="loud"'],
    [{ CAIRN_REDIS_ULR: 'redis://x' }, 'CAIRN_REDIS_ULR: unknown variable'],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => loadEnvConfig(env)).toThrow(expect.objectContaining({ code: 'CAIRN_ERR_CONFIG_INVALID', message: expect.stringContaining(message) }));
  });

  it('names every bad variable at once', () => {
    expect(() => loadEnvConfig({ CAIRN_KINESIS_SHARDS: '0', CAIRN_GATEWAY_PORT: '70000' })).toThrow(/CAIRN_KINESIS_SHARDS="0".*; CAIRN_GATEWAY_PORT="70000"/);
  });

  it('the help text lists every variable with its default', () => {
    const lines = USAGE.split('\n').map((l) => l.trim().split(/ +/));
    for (const v of documented) expect(lines).toContainEqual([v.name, v.default ?? '(unset)']);
  });

  it("README's table lists exactly the variables, in order, with their defaults and meanings", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `([A-Z0-9_]+)` \| (`[^`]*`|unset) \| (.*) \|$/gm)].map((m) => ({
      name: m[1],
      default: m[2] === 'unset' ? undefined : m[2]!.slice(1, -1),
      description: m[3],
    }));
    expect(rows).toEqual(documented.map((v) => ({ name: v.name, default: v.default, description: v.description })));
  });
});
