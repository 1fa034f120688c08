/**
 * Gateway and worker configuration from the environment, validated once and frozen.
 * Every variable, its default and its meaning are listed in README.md.
 */
import { CairnError, ErrorCode } from '../protocol/index.js';
import { DEFAULT_REDIS_URL } from './redis/connect.js';

export interface EnvConfig {
  /** @default 'redis://127.0.0.1:6379' */
  redisUrl: string;
  /** Key prefix for every Redis key. @default 'cairn' */
  redisPrefix: string;
  /** Kinesis endpoint; unset means embedded kinesalite (or AWS itself with CAIRN_KINESIS_EMBEDDED=0). */
  kinesisEndpoint: string | undefined;
  /** @default 'cairn-events' */
  kinesisStream: string;
  /** Shards of a stream we create. @default 2 */
  kinesisShards: number;
  /** @default 7070 */
  gatewayPort: number;
  /** Shared secret servers present in hello. @default 'cairn-dev-token' */
  token: string;
  /** Extra event time a window waits after every watermark passed its end. @default 0 */
  graceMs: number;
  /** A server with no record for this long (wall clock) stops holding windows back; 0 = never. @default 300000 */
  silentServerMs: number;
  /** Target size of an aggregated Kinesis record; every gateway of a stream must agree. @default 25600 (one PUT payload unit) */
  recordBytes: number;
  /** How long a PutRecords call waits for more records to aggregate. @default 10 */
  putLingerMs: number;
  /** Port of the live hunt page (gateway/live-page/); undefined = no page. @default undefined */
  pagePort: number | undefined;
  /** Token that opens the page's admin view. @default the value of CAIRN_TOKEN */
  pageAdminToken: string;
}

const KNOWN = [
  'CAIRN_REDIS_URL',
  'CAIRN_REDIS_PREFIX',
  'CAIRN_KINESIS_ENDPOINT',
  'CAIRN_KINESIS_STREAM',
  'CAIRN_KINESIS_SHARDS',
  'CAIRN_GATEWAY_PORT',
  'CAIRN_TOKEN',
  'CAIRN_WINDOW_GRACE_MS',
  'CAIRN_SILENT_SERVER_MS',
  'CAIRN_KINESIS_RECORD_BYTES',
  'CAIRN_PUT_LINGER_MS',
  'CAIRN_PAGE_PORT',
  'CAIRN_PAGE_ADMIN_TOKEN',
  'CAIRN_LOG_LEVEL',
  'CAIRN_GATEWAY_URL',
  'CAIRN_TEST_REDIS_URL',
];

function int(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new CairnError(ErrorCode.ConfigInvalid, `${name}=${JSON.stringify(raw)}: must be an integer from ${min} to ${max}`);
  }
  return v;
}

export function loadEnvConfig(env: NodeJS.ProcessEnv = process.env): Readonly<EnvConfig> {
  for (const name of Object.keys(env)) {
    if (name.startsWith('CAIRN_') && !KNOWN.includes(name)) {
      throw new CairnError(ErrorCode.ConfigInvalid, `${name}: unknown variable (known: ${KNOWN.join(', ')})`);
    }
  }
  const prefix = env.CAIRN_REDIS_PREFIX ?? 'cairn';
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(prefix)) throw new CairnError(ErrorCode.ConfigInvalid, `CAIRN_REDIS_PREFIX=${JSON.stringify(prefix)}: use 1-64 of A-Z a-z 0-9 _ . : -`);
  const stream = env.CAIRN_KINESIS_STREAM ?? 'cairn-events';
  if (!/^[a-zA-Z0-9_.-]{1,128}$/.test(stream)) throw new CairnError(ErrorCode.ConfigInvalid, `CAIRN_KINESIS_STREAM=${JSON.stringify(stream)}: a Kinesis stream name is 1-128 of a-z A-Z 0-9 _ . -`);
  return Object.freeze({
    redisUrl: env.CAIRN_REDIS_URL || DEFAULT_REDIS_URL,
    redisPrefix: prefix,
    kinesisEndpoint: env.CAIRN_KINESIS_ENDPOINT || undefined,
    kinesisStream: stream,
    kinesisShards: int(env, 'CAIRN_KINESIS_SHARDS', 2, 1, 500),
    gatewayPort: int(env, 'CAIRN_GATEWAY_PORT', 7070, 0, 65535),
    token: env.CAIRN_TOKEN ?? 'cairn-dev-token',
    graceMs: int(env, 'CAIRN_WINDOW_GRACE_MS', 0, 0, 3_600_000),
    silentServerMs: int(env, 'CAIRN_SILENT_SERVER_MS', 300_000, 0, 86_400_000),
    recordBytes: int(env, 'CAIRN_KINESIS_RECORD_BYTES', 25 * 1024, 4096, 1024 * 1024),
    putLingerMs: int(env, 'CAIRN_PUT_LINGER_MS', 10, 0, 1000),
    pagePort: env.CAIRN_PAGE_PORT ? int(env, 'CAIRN_PAGE_PORT', 0, 0, 65535) : undefined,
    pageAdminToken: env.CAIRN_PAGE_ADMIN_TOKEN || (env.CAIRN_TOKEN ?? 'cairn-dev-token'),
  });
}
