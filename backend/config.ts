/**
 * Gateway and worker configuration from the environment, validated once and frozen.
 * ENV_VARS is the one list of every variable: its default and meaning. The `cairn`
 * help text is made from it, and a test holds README.md's table to it.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { CairnError, ErrorCode } from '../protocol/index.js';
import { DEFAULT_REDIS_URL } from './redis/connect.js';
import { configCheck } from './config-check.js';

export interface EnvVar {
  name: string;
  /** As README shows it; undefined: unset unless given. */
  default: string | undefined;
  description: string;
  schema: TSchema;
  /** Read by the test suite only: not in README or the help text. */
  testOnly?: true;
}

const int = (def: number, minimum: number, maximum: number) => Type.Integer({ default: def, minimum, maximum });

/** Every environment variable Cairn reads, in the order README lists them. */
export const ENV_VARS: readonly EnvVar[] = [
  { name: 'CAIRN_REDIS_URL', default: DEFAULT_REDIS_URL, description: 'Redis for gateway and worker state', schema: Type.String({ default: DEFAULT_REDIS_URL, pattern: '^(rediss?://|/)', description: 'a redis:// or rediss:// URL, or a Unix socket path' }) },
  {
    name: 'CAIRN_REDIS_CLUSTER', default: undefined, description: 'seed nodes of a Redis Cluster, `host:port,host:port,...`; when set, `CAIRN_REDIS_URL` is not used',
    schema: Type.String({ pattern: '^[^,:\\s]+:[0-9]{1,5}(,[^,:\\s]+:[0-9]{1,5})*$', description: 'a comma-separated list of host:port' }),
  },
  {
    name: 'CAIRN_REDIS_SENTINELS', default: undefined, description: 'Redis Sentinels as `host:port,host:port,...`; set: gateway and worker find the primary through them and follow a failover (`CAIRN_REDIS_URL` unused)',
    schema: Type.String({ pattern: '^[^\\s,:]+:[0-9]{1,5}(,[^\\s,:]+:[0-9]{1,5})*$', description: 'host:port pairs separated by commas' }),
  },
  { name: 'CAIRN_REDIS_MASTER_NAME', default: 'mymaster', description: 'the primary\'s name in the Sentinels\' configuration (with `CAIRN_REDIS_SENTINELS`)', schema: Type.String({ default: 'mymaster', minLength: 1 }) },
  {
    name: 'CAIRN_REDIS_PREFIX', default: 'cairn', description: 'prefix of every Redis key (replays and tests add a unique suffix)',
    schema: Type.String({ default: 'cairn', pattern: '^[A-Za-z0-9_.:-]{1,64}$', description: 'use 1-64 of A-Z a-z 0-9 _ . : -' }),
  },
  { name: 'CAIRN_KINESIS_ENDPOINT', default: undefined, description: 'Kinesis endpoint; unset: embedded kinesalite for demo/replay, AWS for standalone', schema: Type.String({ pattern: '^https?://', description: 'an http:// or https:// URL' }) },
  { name: 'AWS_REGION', default: 'us-east-1', description: 'region for Kinesis (credentials from the usual AWS chain)', schema: Type.String({ default: 'us-east-1' }) },
  {
    name: 'CAIRN_KINESIS_STREAM', default: 'cairn-events', description: 'stream name, created when missing',
    schema: Type.String({ default: 'cairn-events', pattern: '^[a-zA-Z0-9_.-]{1,128}$', description: 'a Kinesis stream name is 1-128 of a-z A-Z 0-9 _ . -' }),
  },
  { name: 'CAIRN_KINESIS_SHARDS', default: '2', description: 'shard count of a stream Cairn creates (afterwards reshard the stream itself: gateways follow its open shards)', schema: int(2, 1, 500) },
  {
    name: 'CAIRN_KINESIS_RECORD_BYTES', default: '25600',
    description: 'target size of an aggregated Kinesis record (KPL format, readable by any KCL consumer or `aws-kinesis-agg`); every gateway of a stream must use the same value',
    schema: int(25 * 1024, 4096, 1024 * 1024),
  },
  {
    name: 'CAIRN_PUT_LINGER_MS', default: '10', description: 'longest wait of records behind a PutRecords call already in flight for their shard (none when no call is: more events per record vs. lower ack latency)',
    schema: int(10, 0, 1000),
  },
  { name: 'CAIRN_GATEWAY_PORT', default: '7070', description: 'gateway WebSocket port', schema: int(7070, 0, 65535) },
  { name: 'CAIRN_GATEWAY_URL', default: undefined, description: 'the gateway(s) `cairn sidecar` and `cairn replay` use, comma-separated (`ws://a:7070,ws://b:7070`; same as `--gateway`); unset: an embedded back end', schema: Type.String({ pattern: '^wss?://[^,]+(,wss?://[^,]+)*$', description: 'ws:// or wss:// URLs, comma-separated' }) },
  { name: 'CAIRN_PAGE_PORT', default: undefined, description: 'port of the live hunt page (`/hunts/<id>`); unset: no page; `npm start` turns it on', schema: Type.Integer({ minimum: 0, maximum: 65535 }) },
  { name: 'CAIRN_PAGE_ADMIN_TOKEN', default: undefined, description: "token that opens the page's admin view (map, positions, suspects); unset: the value of `CAIRN_TOKEN`", schema: Type.String({ minLength: 1 }) },
  { name: 'CAIRN_TOKEN', default: 'cairn-dev-token', description: 'shared secret every game server presents in its hello', schema: Type.String({ default: 'cairn-dev-token', minLength: 1 }) },
  { name: 'CAIRN_WINDOW_GRACE_MS', default: '0', description: "event time a window waits after every server's watermark passed its end", schema: int(0, 0, 3_600_000) },
  {
    name: 'CAIRN_SILENT_SERVER_MS', default: '300000', description: 'a game server with no records for this long (wall clock) stops holding windows back; `0` = never',
    schema: int(300_000, 0, 86_400_000),
  },
  {
    name: 'CAIRN_LOG_LEVEL', default: 'info', description: '`debug`, `info`, `warn`, `error` (logs are JSON lines on stderr)',
    schema: Type.Union(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  },
  { name: 'CAIRN_TEST_REDIS_URL', default: undefined, description: 'the Redis the test suite uses (it starts one when unset)', schema: Type.String(), testOnly: true },
];

export interface EnvConfig {
  /** @default 'redis://127.0.0.1:6379' */
  redisUrl: string;
  /** Seed nodes of a Redis Cluster (`host:port,...`); when set, redisUrl is not used. @default undefined */
  redisCluster: string | undefined;
  /** Sentinels to find the primary through; undefined = connect to redisUrl. @default undefined */
  redisSentinels: { host: string; port: number }[] | undefined;
  /** The primary's name at the Sentinels. @default 'mymaster' */
  redisMasterName: string;
  /** Key prefix for every Redis key. @default 'cairn' */
  redisPrefix: string;
  /** Kinesis endpoint; unset means embedded kinesalite, or AWS itself for standalone processes. */
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

const checkEnv = configCheck(Type.Object(Object.fromEntries(ENV_VARS.map((v) => [v.name, Type.Optional(v.schema)])), { additionalProperties: false }), {
  coerce: true,
  label: (name) => name,
});

const KNOWN = ENV_VARS.map((v) => v.name);

export function loadEnvConfig(env: NodeJS.ProcessEnv = process.env): Readonly<EnvConfig> {
  const given: Record<string, string> = {};
  for (const name of KNOWN) {
    const v = env[name];
    // An empty variable is an unset one (`CAIRN_KINESIS_ENDPOINT= cairn worker`).
    if (v !== undefined && v !== '') given[name] = v;
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('CAIRN_') && !KNOWN.includes(name)) {
      throw new CairnError(ErrorCode.ConfigInvalid, `${name}: unknown variable (known: ${KNOWN.join(', ')})`);
    }
  }
  const c = checkEnv(given) as Record<string, string | number | undefined>;
  return Object.freeze({
    redisUrl: c.CAIRN_REDIS_URL as string,
    redisCluster: c.CAIRN_REDIS_CLUSTER as string | undefined,
    redisSentinels: parseSentinels(c.CAIRN_REDIS_SENTINELS as string | undefined),
    redisMasterName: c.CAIRN_REDIS_MASTER_NAME as string,
    redisPrefix: c.CAIRN_REDIS_PREFIX as string,
    kinesisEndpoint: c.CAIRN_KINESIS_ENDPOINT as string | undefined,
    kinesisStream: c.CAIRN_KINESIS_STREAM as string,
    kinesisShards: c.CAIRN_KINESIS_SHARDS as number,
    gatewayPort: c.CAIRN_GATEWAY_PORT as number,
    token: c.CAIRN_TOKEN as string,
    graceMs: c.CAIRN_WINDOW_GRACE_MS as number,
    silentServerMs: c.CAIRN_SILENT_SERVER_MS as number,
    recordBytes: c.CAIRN_KINESIS_RECORD_BYTES as number,
    putLingerMs: c.CAIRN_PUT_LINGER_MS as number,
    pagePort: c.CAIRN_PAGE_PORT as number | undefined,
    pageAdminToken: (c.CAIRN_PAGE_ADMIN_TOKEN ?? c.CAIRN_TOKEN) as string,
  });
}

function parseSentinels(list: string | undefined): { host: string; port: number }[] | undefined {
  if (list === undefined) return undefined;
  return list.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    const port = Number(hp.slice(i + 1));
    if (!(port >= 1 && port <= 65535)) throw new CairnError(ErrorCode.ConfigInvalid, `CAIRN_REDIS_SENTINELS: ${hp}: port must be 1-65535`);
    return { host: hp.slice(0, i), port };
  });
}

/** The environment section of `cairn --help`. */
export function envHelp(): string {
  const shown = ENV_VARS.filter((v) => !v.testOnly);
  const width = Math.max(...shown.map((v) => v.name.length)) + 2;
  const lines = shown.map((v) => `  ${v.name.padEnd(width)}${v.default === undefined ? '(unset)' : v.default}`);
  return ['environment (name, default; meanings in README.md):', ...lines].join('\n');
}
