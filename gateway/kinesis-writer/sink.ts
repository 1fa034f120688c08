/**
 * What the writer needs of Kinesis: PutRecords. The real SDK client, a fault-injecting
 * wrapper in tests or a counting null sink in benchmarks all fit behind PutRecordsSink.
 */
import type { KinesisClient, PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';

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

/** PutRecords through the real SDK client. */
export function kinesisSink(client: KinesisClient): PutRecordsSink {
  return {
    putRecords: async (input) => (await client.send(new PutRecordsCommand(input as PutRecordsCommandInput))) as PutRecordsResult,
  };
}
