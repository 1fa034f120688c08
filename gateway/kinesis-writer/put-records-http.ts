/**
 * PutRecords as one signed HTTP request, sent with the SDK client's own parts: its
 * endpoint rules, region, credential provider, SigV4 signer inputs and HTTP handler
 * (keep-alive agent, timeouts). What it leaves out is the SDK's per-call machinery, which
 * cost the gateway ~1.1 ms of CPU per call (profiled: the schema serializer's base64 loop
 * in JavaScript, the middleware stack, endpoint resolution and user-agent building on
 * every call) against ~0.5 ms here: the body is built with Buffer's native base64, and
 * the endpoint is resolved once.
 *
 * The request is the SDK's own, less its telemetry headers (user agent, invocation id):
 * same body, target, content type and signature (test/gateway/put-records-http.test.ts
 * signs both and compares them). Retries are not done here: the writer's retrier
 * (retries.ts) retries failed calls and entries, with its pacing.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest as SignableRequest, HttpResponse } from '@smithy/types';
import type { PutEntry, PutRecordsResult } from './sink.js';

/** What a failed call throws: `name` is Kinesis's error type (ProvisionedThroughputExceededException, ...), as the SDK's errors have it. */
export class KinesisServiceError extends Error {
  constructor(
    name: string,
    message: string,
    readonly $metadata: { httpStatusCode: number },
  ) {
    super(message);
    this.name = name;
  }
}

const PUT_RECORDS_TARGET = 'Kinesis_20131202.PutRecords';
const AWS_JSON_1_1 = 'application/x-amz-json-1.1';

/** The JSON body of a PutRecords call, as the SDK writes it (Data in base64). */
export function putRecordsBody(stream: string, records: readonly PutEntry[]): string {
  let body = '{"StreamName":' + JSON.stringify(stream) + ',"Records":[';
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const data = Buffer.isBuffer(r.Data) ? r.Data : Buffer.from(r.Data.buffer, r.Data.byteOffset, r.Data.byteLength);
    if (i > 0) body += ',';
    body += '{"Data":"' + data.toString('base64') + '","PartitionKey":' + JSON.stringify(r.PartitionKey);
    if (r.ExplicitHashKey !== undefined) body += ',"ExplicitHashKey":' + JSON.stringify(r.ExplicitHashKey);
    body += '}';
  }
  return body + ']}';
}

/** The parts of the SDK client's resolved config this file uses (not in the SDK's public types). */
interface ClientConfig {
  region: () => Promise<string>;
  useFipsEndpoint: () => Promise<boolean>;
  useDualstackEndpoint: () => Promise<boolean>;
  endpoint?: () => Promise<{ protocol: string; hostname: string; port?: number; path: string }>;
  endpointProvider: (params: Record<string, unknown>) => { url: URL; properties?: { authSchemes?: { name: string; signingRegion?: string; signingName?: string }[] } };
  credentials: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
  sha256: ConstructorParameters<typeof SignatureV4>[0]['sha256'];
  requestHandler: { handle(req: SignableRequest): Promise<{ response: HttpResponse }> };
}

export interface PutTarget {
  url: URL;
  signer: SignatureV4;
}

/** Where and how PutRecords requests of `client` go: its endpoint for data operations, and a signer for its region and credentials. */
export async function putRecordsTarget(client: KinesisClient): Promise<PutTarget> {
  const cfg = client.config as unknown as ClientConfig;
  const region = await cfg.region();
  const custom = cfg.endpoint ? await cfg.endpoint() : undefined;
  const endpoint = custom ? `${custom.protocol}//${custom.hostname}${custom.port ? `:${custom.port}` : ''}${custom.path}` : undefined;
  const resolved = cfg.endpointProvider({
    Region: region,
    UseFIPS: await cfg.useFipsEndpoint(),
    UseDualStack: await cfg.useDualstackEndpoint(),
    ...(endpoint ? { Endpoint: endpoint } : {}),
    OperationType: 'data',
  });
  const scheme = resolved.properties?.authSchemes?.find((s) => s.name === 'sigv4');
  const signer = new SignatureV4({
    credentials: cfg.credentials,
    region: scheme?.signingRegion ?? region,
    service: scheme?.signingName ?? 'kinesis',
    sha256: cfg.sha256,
  });
  return { url: resolved.url, signer };
}

/** The unsigned request of one PutRecords call to `url`. */
export function putRecordsRequest(url: URL, body: string): SignableRequest {
  return {
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query: {},
    headers: {
      host: url.host,
      'content-type': AWS_JSON_1_1,
      'x-amz-target': PUT_RECORDS_TARGET,
      'content-length': String(Buffer.byteLength(body)),
    },
    body,
  };
}

/** PutRecords through `client`'s endpoint, credentials and HTTP handler, without its middleware. */
export function putRecordsOver(client: KinesisClient): (stream: string, records: readonly PutEntry[]) => Promise<PutRecordsResult> {
  let target: Promise<PutTarget> | undefined;
  return async (stream, records) => {
    target ??= putRecordsTarget(client).catch((err: unknown) => {
      target = undefined; // asked again on the next call (credentials or config not ready yet)
      throw err;
    });
    const { url, signer } = await target;
    const signed = await signer.sign(putRecordsRequest(url, putRecordsBody(stream, records)));
    const { response } = await (client.config as unknown as ClientConfig).requestHandler.handle(signed);
    const text = await readBody(response);
    if (response.statusCode === 200) return JSON.parse(text) as PutRecordsResult;
    throw serviceError(response, text);
  };
}

async function readBody(response: HttpResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The error of a non-200 response, named as the SDK names it: the error type from the
 * x-amzn-errortype header or the body's __type, without its namespace or any suffix
 * after ':'; a body that is not JSON (a proxy's page) gives the HTTP status.
 */
export function serviceError(response: Pick<HttpResponse, 'statusCode' | 'headers'>, text: string): KinesisServiceError {
  let type = response.headers['x-amzn-errortype'];
  let message = '';
  try {
    const body = JSON.parse(text) as { __type?: string; message?: string; Message?: string };
    type ??= body.__type;
    message = body.message ?? body.Message ?? '';
  } catch {
    message = text.slice(0, 200);
  }
  const name = type ? type.split(':')[0]!.split('#').pop()! : response.statusCode >= 500 ? 'InternalFailure' : `HttpStatus${response.statusCode}`;
  return new KinesisServiceError(name, message || `PutRecords answered HTTP ${response.statusCode}`, { httpStatusCode: response.statusCode });
}
