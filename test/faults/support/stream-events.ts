/**
 * Every discrete event in a stream, read back from Kinesis itself (all shards, from the
 * trim horizon): the ground truth of what the gateway made durable, whatever the worker
 * did with it. Grouped as server -> epoch -> set of event numbers.
 */
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { deaggregateRecords } from '../../../backend/kinesis/kpl-aggregation.js';
import { decodeRecord } from '../../../backend/kinesis/record-format.js';
import { isDiscrete } from '../../../protocol/index.js';

export async function discreteEventsInStream(kinesis: KinesisClient, stream: string): Promise<Map<string, Map<number, Set<number>>>> {
  const out = new Map<string, Map<number, Set<number>>>();
  const shards = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  for (const shard of shards) {
    let iter = (await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    while (iter) {
      const res = await kinesis.send(new GetRecordsCommand({ ShardIterator: iter, Limit: 10_000 }));
      const records = res.Records ?? [];
      for (const rec of deaggregateRecords(records)) {
        const r = decodeRecord(rec.Data ?? new Uint8Array());
        let epochs = out.get(r.s);
        if (!epochs) out.set(r.s, (epochs = new Map()));
        let ns = epochs.get(r.e);
        if (!ns) epochs.set(r.e, (ns = new Set()));
        for (const ev of r.ev) if (isDiscrete(ev)) ns.add(ev.n);
      }
      if (!records.length) break;
      iter = res.NextShardIterator;
    }
  }
  return out;
}
