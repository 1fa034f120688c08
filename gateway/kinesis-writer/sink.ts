/**
 * What the writer needs of Kinesis: PutRecords. The real one (put-records-http.ts), a
 * fault-injecting wrapper in tests or a counting null sink in benchmarks all fit behind
 * PutRecordsSink.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { ShardRange } from '../../backend/kinesis/partition-keys.js';
import { putRecordsOver } from './put-records-http.js';

export interface PutRecordsSink {
  putRecords(input: { StreamName: string; Records: PutEntry[] }): Promise<PutRecordsResult>;
}

/** One PutRecords entry as the writer sends it. */
export interface PutEntry {
  Data: Uint8Array;
  PartitionKey: string;
  ExplicitHashKey?: string | undefined;
}

/** The part of a PutRecords response the writer reads; entries are in request order. */
export interface PutRecordsResult {
  FailedRecordCount?: number | undefined;
  Records?: { ErrorCode?: string | undefined; ErrorMessage?: string | undefined; SequenceNumber?: string | undefined; ShardId?: string | undefined }[] | undefined;
}

/**
 * PutRecords to the SDK client's stream endpoint, as one signed request built here
 * (put-records-http.ts: the SDK's per-call machinery cost twice the CPU).
 */
export function kinesisSink(client: KinesisClient): PutRecordsSink {
  const put = putRecordsOver(client);
  return { putRecords: (input) => put(input.StreamName, input.Records) };
}

/**
 * The stream's open shards: ListShards, page by page, without the closed ones (a parent
 * of a split or merge keeps its listing, with an ending sequence number, until its
 * records expire). Filtered here rather than with ShardFilter, which kinesalite ignores.
 */
export async function listOpenShards(client: KinesisClient, stream: string): Promise<ShardRange[]> {
  const open: ShardRange[] = [];
  let next: string | undefined;
  do {
    const res = await client.send(new ListShardsCommand(next ? { NextToken: next } : { StreamName: stream }));
    for (const s of res.Shards ?? []) {
      if (s.SequenceNumberRange?.EndingSequenceNumber !== undefined) continue;
      if (!s.ShardId || !s.HashKeyRange?.StartingHashKey || !s.HashKeyRange.EndingHashKey) continue;
      open.push({ shardId: s.ShardId, start: s.HashKeyRange.StartingHashKey, end: s.HashKeyRange.EndingHashKey });
    }
    next = res.NextToken;
  } while (next);
  return open;
}
