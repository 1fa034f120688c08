/**
 * PutRecords as one signed request (gateway/kinesis-writer/put-records-http.ts): the same
 * request the SDK makes, less its telemetry headers, signed alike; records land in real
 * kinesalite as sent; errors carry Kinesis's error type as their name.
 */
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { HttpRequest } from '@smithy/types';
import { createHash } from 'node:crypto';
import { describe, expect, vi } from 'vitest';
import { makeKinesisClient } from '../../backend/kinesis/client.js';
import { putRecordsBody, putRecordsOver, putRecordsRequest, putRecordsTarget, serviceError } from '../../gateway/kinesis-writer/put-records-http.js';
import { kinesisSink } from '../../gateway/kinesis-writer/sink.js';
import { kinesisTest as it } from '../support/fixtures.js';
import { newStream, readAll } from './support.js';

const RECORDS = [
  { Data: Buffer.from([0, 1, 2, 250, 251, 252, 253]), PartitionKey: 'a1b2c3d4', ExplicitHashKey: '340282366920938463463374607431768211455' },
  { Data: new Uint8Array(Buffer.from('no hash key, "quotes" and \\ backslash')), PartitionKey: 'key "with" quotes' },
  { Data: Buffer.alloc(3000, 7).subarray(1000, 2001), PartitionKey: 'f'.repeat(256), ExplicitHashKey: '0' },
];

/** The request the SDK would send for `input`, before and after it signs it (caught at the end of its stack; nothing is sent). */
async function sdkRequest(client: KinesisClient, input: { StreamName: string; Records: typeof RECORDS }): Promise<{ unsigned: HttpRequest; signed: HttpRequest }> {
  const cmd = new PutRecordsCommand(input);
  let unsigned: HttpRequest | undefined;
  const stack = cmd.middlewareStack as unknown as MiddlewareStack;
  stack.addRelativeTo(
    (next) => async (args) => {
      unsigned = { ...args.request, headers: { ...args.request.headers } };
      return next(args);
    },
    { relation: 'before', toMiddleware: 'httpSigningMiddleware', name: 'catchUnsigned' },
  );
  stack.add(
    () => async (args) => {
      throw Object.assign(new Error('caught'), { request: args.request });
    },
    { step: 'finalizeRequest', priority: 'low', name: 'catchSigned' },
  );
  const err = (await client.send(cmd).then(
    () => undefined,
    (e: unknown) => e,
  )) as { message: string; request?: HttpRequest };
  expect(err?.message).toBe('caught');
  return { unsigned: unsigned!, signed: err.request! };
}

/** The part of the SDK's middleware stack these tests use, untyped by step. */
type Middleware = (next: (args: { request: HttpRequest }) => Promise<unknown>) => (args: { request: HttpRequest }) => Promise<unknown>;
interface MiddlewareStack {
  add(mw: Middleware, opts: { step: string; priority: string; name: string }): void;
  addRelativeTo(mw: Middleware, opts: { relation: string; toMiddleware: string; name: string }): void;
}

const bodyText = (r: HttpRequest) => (typeof r.body === 'string' ? r.body : Buffer.from((r.body as Uint8Array).buffer, (r.body as Uint8Array).byteOffset, (r.body as Uint8Array).byteLength).toString('utf8'));
const amzDate = (d: string) => new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);

describe('PutRecords without the SDK stack', () => {
  it.each([
    ['kinesalite (a custom endpoint)', 'http://127.0.0.1:4567'],
    ['AWS (the region\'s endpoint)', undefined],
  ])('makes the SDK\'s request to %s: same endpoint, body, target and content type, signed alike', async (_, endpoint) => {
    // The gateway's client (HTTP/1.1); for AWS its credentials come from the default chain: here, the environment.
    if (!endpoint) {
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'cairn-local');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'cairn-local');
    }
    const client = makeKinesisClient(endpoint, 'eu-west-1');
    try {
      const input = { StreamName: 'cairn-events', Records: RECORDS };
      const sdk = await sdkRequest(client, input);
      const { url, signer } = await putRecordsTarget(client);
      const ours = putRecordsRequest(url, putRecordsBody(input.StreamName, input.Records));
      for (const k of ['method', 'protocol', 'hostname', 'path'] as const) expect(ours[k], k).toBe(sdk.unsigned[k]);
      expect(ours.port ?? undefined).toBe(sdk.unsigned.port ?? undefined);
      expect(ours.hostname).toBe(endpoint ? '127.0.0.1' : 'kinesis.eu-west-1.amazonaws.com');
      expect(JSON.parse(ours.body as string)).toEqual(JSON.parse(bodyText(sdk.unsigned)));
      for (const h of ['content-type', 'x-amz-target']) expect(ours.headers[h], h).toBe(sdk.unsigned.headers[h]);
      expect(Number(ours.headers['content-length'])).toBe(Buffer.byteLength(ours.body as string));
      // The signer: the SDK's unsigned request signed by ours at the SDK's moment gives the SDK's signature.
      const date = amzDate(sdk.signed.headers['x-amz-date']!);
      const resigned = await signer.sign({ ...sdk.unsigned, headers: { ...sdk.unsigned.headers } }, { signingDate: date });
      expect(resigned.headers['authorization']).toBe(sdk.signed.headers['authorization']);
      // And our request is signed over what it sends: the body's hash and the headers it has.
      const signed = await signer.sign(ours, { signingDate: date });
      const signedHeaders = (r: HttpRequest) => /SignedHeaders=([^,]+)/.exec(r.headers['authorization']!)![1]!.split(';');
      const telemetry = new Set(['amz-sdk-invocation-id', 'amz-sdk-request', 'x-amz-user-agent']);
      expect(signedHeaders(signed)).toEqual(signedHeaders(sdk.signed).filter((h) => !telemetry.has(h)));
      expect(signedHeaders(signed)).toEqual(['content-length', 'content-type', 'host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-target']);
      expect(signed.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(ours.body as string).digest('hex'));
      expect(sdk.signed.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(bodyText(sdk.unsigned)).digest('hex'));
    } finally {
      client.destroy();
      vi.unstubAllEnvs();
    }
  });

  it('puts records that kinesalite stores as sent, one result per record in order', async ({ kinesis }) => {
    const stream = await newStream(kinesis.client, 2);
    const sink = kinesisSink(kinesis.client);
    const res = await sink.putRecords({ StreamName: stream, Records: RECORDS });
    expect(res.FailedRecordCount ?? 0).toBe(0);
    expect(res.Records).toHaveLength(RECORDS.length);
    for (const r of res.Records!) expect(r.SequenceNumber).toMatch(/^\d+$/);
    const stored = await readAll(kinesis.client, stream);
    const bySeq = new Map(stored.map((s) => [s.sequenceNumber, s]));
    RECORDS.forEach((sent, i) => {
      const got = bySeq.get(res.Records![i]!.SequenceNumber!)!;
      expect(got.partitionKey).toBe(sent.PartitionKey);
      expect(got.data.equals(Buffer.from(sent.Data))).toBe(true);
      expect(got.shardId).toBe(res.Records![i]!.ShardId);
    });
    // ExplicitHashKey 0 and the last key of the space land in the first and the last shard.
    expect(res.Records![2]!.ShardId).not.toBe(res.Records![0]!.ShardId);
  });

  it('names a failed call by Kinesis\'s error type, as the SDK does', async ({ kinesis }) => {
    const put = putRecordsOver(kinesis.client);
    const sdkErr = await kinesis.client.send(new PutRecordsCommand({ StreamName: 'no-such-stream', Records: RECORDS })).catch((e: Error) => e);
    const ours = await put('no-such-stream', RECORDS).catch((e: Error & { $metadata: { httpStatusCode: number } }) => e);
    expect(ours).toBeInstanceOf(Error);
    expect((ours as Error).name).toBe('ResourceNotFoundException');
    expect((ours as Error).name).toBe((sdkErr as Error).name);
    expect((ours as Error).message).toContain('no-such-stream');
  });

  it('reads the error type from the header or the body, without namespace or suffix; a page that is not JSON gives the status', () => {
    const header = serviceError({ statusCode: 400, headers: { 'x-amzn-errortype': 'ProvisionedThroughputExceededException:http://internal.amazon.com/' } }, '{"message":"Rate exceeded for shard"}');
    expect([header.name, header.message, header.$metadata.httpStatusCode]).toEqual(['ProvisionedThroughputExceededException', 'Rate exceeded for shard', 400]);
    const body = serviceError({ statusCode: 400, headers: {} }, '{"__type":"com.amazonaws.kinesis.v20131202#KMSThrottlingException","Message":"slow down"}');
    expect([body.name, body.message]).toEqual(['KMSThrottlingException', 'slow down']);
    expect(serviceError({ statusCode: 502, headers: {} }, '<html>Bad Gateway</html>').name).toBe('InternalFailure');
    expect(serviceError({ statusCode: 403, headers: {} }, 'Forbidden').name).toBe('HttpStatus403');
  });
});
