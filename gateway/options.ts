/**
 * The gateway's settings: one TypeBox schema with each default inline, checked once by
 * ajv (unknown options refused), then frozen, as fastify does with its options. The
 * live objects a gateway is given (Redis, Kinesis client, registry, sink) are not
 * settings and are checked by presence in server.ts.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { CairnError, ErrorCode } from '../protocol/index.js';
import { KINESIS_MAX_RECORD_BYTES, KINESIS_PUT_PAYLOAD_UNIT_BYTES } from '../protocol/limits.js';
import { DEFAULT_SHARD_REFRESH_MS } from './kinesis-writer/options.js';
import { MIN_RECORD_TARGET_BYTES } from './batch-records.js';

const ms = (description: string, def: number) => Type.Optional(Type.Integer({ minimum: 1, default: def, description: `${description} (ms)` }));

export const GatewaySettingsSchema = Type.Object(
  {
    port: Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP port; 0 picks a free one.' }),
    host: Type.Optional(Type.String({ minLength: 1, description: "Interface to listen on; Node's default is every interface." })),
    token: Type.String({ minLength: 1, description: 'Shared secret every server presents in its hello (or as `Authorization: Bearer` on the upgrade).' }),
    stream: Type.String({ minLength: 1, maxLength: 128, description: 'The Kinesis stream written to.' }),
    recordTargetBytes: Type.Optional(
      Type.Integer({
        minimum: MIN_RECORD_TARGET_BYTES,
        maximum: KINESIS_MAX_RECORD_BYTES,
        default: KINESIS_PUT_PAYLOAD_UNIT_BYTES,
        description: 'Target size of an aggregated Kinesis record, data plus partition key (default one 25 KiB PUT payload unit).',
      }),
    ),
    maxPutsInFlight: Type.Optional(Type.Integer({ minimum: 1, default: 4, description: 'PutRecords calls in flight at once.' })),
    deliveryBlockMs: ms("How long a delivery's XREADGROUP blocks; bounds how long stopping a delivery takes", 1000),
    maxUnackedBytes: Type.Optional(Type.Integer({ minimum: 1, default: 8 * 1024 * 1024, description: 'Bytes of received, unacked batches per connection before its socket is no longer read.' })),
    upgradeTimeoutMs: ms(
      'A connection that has not completed its WebSocket upgrade (or, between HTTP requests, sent its next request headers) is closed after this; Node checks every upgradeTimeoutMs / 10 (at most 1 s), so the bound is 1.1 x this',
      10_000,
    ),
    helloTimeoutMs: ms('A connection that sends no hello within this time after its upgrade is closed', 10_000),
    closeGraceMs: ms('After the gateway closes a connection, how long the peer has to answer the close frame before the socket is destroyed', 2000),
    pingIntervalMs: ms('Ping interval; a connection that has not answered the previous ping is terminated', 15_000),
    shutdownWaitMs: ms('How long close() waits for in-flight batches to be acked', 10_000),
    shardCount: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          "A fixed layout of this many equal shards to pack and pace by, instead of the stream's own (ListShards every shardRefreshMs); for tests and benchmarks whose sink is not the stream.",
      }),
    ),
    shardRefreshMs: ms("How often the gateway lists the stream's open shards, so packing and pacing follow a reshard", DEFAULT_SHARD_REFRESH_MS),
    putLingerMs: Type.Optional(Type.Number({ minimum: 0, description: 'How long queued records wait for others to share a PutRecords call (KinesisWriterOptions.lingerMs; default 10).' })),
    putBaseDelayMs: Type.Optional(Type.Number({ minimum: 0, description: "First retry delay of the Kinesis writer, before jitter (default 50)." })),
    putMaxDelayMs: Type.Optional(Type.Number({ minimum: 0, description: 'Longest retry or throttle delay of the Kinesis writer (default 5000).' })),
    putMaxAttempts: Type.Optional(Type.Integer({ minimum: 1, description: 'PutRecords calls per chunk of records before its write fails (default 20).' })),
  },
  { additionalProperties: false, title: 'Cairn gateway settings' },
);

/** The settings as given: every option with a default may be left out. */
export type GatewaySettings = Static<typeof GatewaySettingsSchema>;

type Defaulted = 'recordTargetBytes' | 'maxPutsInFlight' | 'shardRefreshMs' | 'deliveryBlockMs' | 'maxUnackedBytes' | 'upgradeTimeoutMs' | 'helloTimeoutMs' | 'closeGraceMs' | 'pingIntervalMs' | 'shutdownWaitMs';
/** The settings after validation: defaults filled in, frozen. */
export type ResolvedGatewaySettings = Readonly<GatewaySettings & Required<Pick<GatewaySettings, Defaulted>>>;

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true, coerceTypes: false });
const validate = ajv.compile(GatewaySettingsSchema);

/** Options that existed once, and what a caller should do instead. */
const REMOVED: Record<string, string> = {
  partitionBuckets:
    'removed: each part of a batch is placed by its own idempotency key over the whole hash key space (backend/kinesis/partition-keys.ts), so parts no longer depend on a setting; leave it out',
};

function describe(e: ErrorObject, given: Record<string, unknown>): string {
  if (e.keyword === 'additionalProperties') {
    const name = String((e.params as { additionalProperty: string }).additionalProperty);
    return `gateway option ${name}: ${REMOVED[name] ?? 'not a gateway option'}`;
  }
  const name = e.instancePath.replace(/^\//, '') || String((e.params as { missingProperty?: string }).missingProperty ?? '');
  const value = name in given ? `=${JSON.stringify(given[name])}` : '';
  return `gateway option ${name}${value}: ${e.message ?? 'is not valid'}`;
}

/** Validates the settings, fills in the defaults and freezes them; a CairnError(ConfigInvalid) names every option that is wrong. */
export function resolveGatewaySettings(given: GatewaySettings): ResolvedGatewaySettings {
  // A copy: ajv writes the defaults into what it validates. Options given as undefined count as left out.
  const copy = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  if (!validate(copy)) {
    const problems = (validate.errors ?? []).map((e) => describe(e, copy));
    throw new CairnError(ErrorCode.ConfigInvalid, [...new Set(problems)].join('; '));
  }
  return Object.freeze(copy as ResolvedGatewaySettings);
}
