/**
 * The Kinesis writer against REAL kinesalite. One contract suite runs over two sinks
 * around the real client (colyseus style): a plain recording pass-through and a
 * fault-injecting wrapper. Then the faults the wrapper exists for, one at a time.
 */
import { afterEach, beforeEach, describe, expect } from 'vitest';
import { batchToRecords, type UserRecord } from '../../gateway/batch-records.js';
import { KinesisWriteError } from '../../gateway/kinesis-writer/errors.js';
import type { KinesisWriterOptions } from '../../gateway/kinesis-writer/options.js';
import { kinesisSink, listOpenShards } from '../../gateway/kinesis-writer/sink.js';
import { KinesisWriter } from '../../gateway/kinesis-writer/writer.js';
import { GatewayMetrics } from '../../gateway/metrics.js';
import { PartitionScheme, ShardLayout } from '../../backend/kinesis/partition-keys.js';
import { recordKey } from '../../backend/kinesis/record-format.js';
import { KINESIS_MAX_BYTES_PER_PUT, KINESIS_MAX_RECORDS_PER_PUT } from '../../protocol/limits.js';
import { kinesisTest as it, type KinesisFixtures } from '../support/fixtures.js';
import type { Kinesis } from '../support/kinesis.js';
import { chaosPlan, RecordingSink } from './fault-sink.js';
import { eventsByKey, eventually, joins, newStream, readEventRecords } from './support.js';

/** Three groups: a batch splits into up to three parts (the split itself is batch-records' concern). */
const THREE = new PartitionScheme(3);
/** One group, as the gateway splits: parts are cut by size alone. */
const ONE = new PartitionScheme(1);

/** `n` batches of `events` join events each, as user records. */
function batches(n: number, events: number, targetBytes = 25 * 1024, scheme = THREE, server = 'srv-a'): UserRecord[][] {
  return Array.from({ length: n }, (_, i) => batchToRecords({ server, epoch: 1, seq: i + 1, wm: i }, joins(events, i * events), { scheme, targetBytes }));
}

/**
 * `n` batches, each one user record of more than half of `targetBytes`: no two share an
 * aggregate, so every user record is a Kinesis record of its own (in the ONE scheme).
 */
function unshareable(n: number, targetBytes: number): UserRecord[][] {
  const perEvent = 60; // a join is about 60 bytes of msgpack
  const recs = Array.from({ length: n }, (_, i) =>
    batchToRecords({ server: 'srv-big', epoch: 1, seq: i + 1, wm: 0 }, joins(Math.floor((targetBytes * 0.8) / perEvent), i * 1000), { scheme: ONE, targetBytes }),
  );
  for (const r of recs) expect(r.length).toBe(1);
  return recs;
}

/** The user records' identity and contents, for comparing copies. */
const body = (r: { s: string; e: number; q: number; pt: number; np: number; wm: number; ev: unknown[] }) => JSON.stringify([r.s, r.e, r.q, r.pt, r.np, r.wm, r.ev]);

const fast: Partial<KinesisWriterOptions> = { baseDelayMs: 5, maxDelayMs: 50 };

const impls: { name: string; faults: boolean; sink(k: Kinesis): RecordingSink }[] = [
  { name: 'plain writer over kinesalite', faults: false, sink: (k) => new RecordingSink(kinesisSink(k.client)) },
  { name: 'fault-injecting wrapper over kinesalite', faults: true, sink: (k) => new RecordingSink(kinesisSink(k.client), chaosPlan(7)) },
];

for (const impl of impls) {
  describe(`KinesisWriter contract: ${impl.name}`, () => {
    let stream: string;
    let sink: RecordingSink;
    let writer: KinesisWriter;
    beforeEach<KinesisFixtures>(async ({ kinesis }) => {
      stream = await newStream(kinesis.client, 3);
      sink = impl.sink(kinesis);
      writer = new KinesisWriter({ sink, stream, listShards: () => listOpenShards(kinesis.client, stream), maxPutsInFlight: 3, ...fast });
      await writer.refreshShards();
    });
    afterEach(async () => {
      await writer.drain();
      writer.close();
    });

    it('resolves every write only when all its records are in Kinesis, each key at least once and copies identical', async ({ kinesis }) => {
      const all = batches(40, 120, 2048);
      await Promise.all(all.map((recs) => writer.write(recs)));
      const stored = await readEventRecords(kinesis.client, stream);
      const byKey = new Map<string, string>();
      for (const r of stored) {
        const k = recordKey(r);
        if (byKey.has(k)) expect(byKey.get(k), `duplicate ${k} differs`).toBe(body(r));
        byKey.set(k, body(r));
      }
      const expected = all.flat().map((r) => r.key);
      expect([...byKey.keys()].sort()).toEqual([...expected].sort());
      // Duplicates only where a call timed out after Kinesis stored it.
      if (!sink.calls.some((c) => c.fault === 'timeout-after-success')) expect(stored.length).toBe(expected.length);
      expect(writer.metrics.stats.userRecords).toBeGreaterThanOrEqual(expected.length);
      // Aggregated: far fewer Kinesis records than user records, each holding one shard's.
      expect(writer.metrics.stats.records).toBeLessThan(expected.length / 2);
      for (const r of stored) expect(r.partitionKey).toBe(r.kinesisPartitionKey);
      expect(sink.calls.some((c) => c.fault !== 'none')).toBe(impl.faults);
    });

    it('never puts more than 500 records in one call', async ({ kinesis }) => {
      const w = new KinesisWriter({ sink, stream, recordTargetBytes: 1024, maxPutsInFlight: 3, ...fast });
      const recs = unshareable(1300, 1024); // one Kinesis record each: well over 500 records in all
      await Promise.all(recs.map((r) => w.write(r)));
      expect(sink.calls.length).toBeGreaterThanOrEqual(3);
      for (const c of sink.calls) expect(c.keys.length).toBeLessThanOrEqual(KINESIS_MAX_RECORDS_PER_PUT);
      expect(sink.calls.some((c) => c.keys.length > 100)).toBe(true);
      expect(new Set((await readEventRecords(kinesis.client, stream)).map(recordKey)).size).toBe(recs.length);
    });

    it('never puts more than 5 MiB (partition keys included) in one call', async ({ kinesis }) => {
      const target = 200 * 1024;
      const w = new KinesisWriter({ sink, stream, recordTargetBytes: target, maxPutsInFlight: 3, ...fast });
      const recs = unshareable(80, target).flat(); // ~13 MB in 160 KB records
      const total = recs.reduce((a, r) => a + r.data.length, 0);
      expect(total).toBeGreaterThan(KINESIS_MAX_BYTES_PER_PUT * 2);
      await w.write(recs);
      expect(sink.calls.length).toBeGreaterThanOrEqual(3);
      for (const c of sink.calls) expect(c.bytes).toBeLessThanOrEqual(KINESIS_MAX_BYTES_PER_PUT);
      expect(new Set((await readEventRecords(kinesis.client, stream)).map(recordKey)).size).toBe(recs.length);
    });

    it("packs each shard's parts into aggregates up to the record target, every user record under a hash key of the shard that holds it", async ({ kinesis }) => {
      const target = 4096;
      const w = new KinesisWriter({ sink, stream, shardCount: 3, recordTargetBytes: target, maxPutsInFlight: 1, ...fast });
      const recs = batches(30, 40, target);
      await Promise.all(recs.map((r) => w.write(r)));
      for (const c of sink.calls) expect(c.bytes / c.keys.length).toBeLessThanOrEqual(target);
      const stored = await readEventRecords(kinesis.client, stream);
      expect(new Set(stored.map(recordKey)).size).toBe(recs.flat().length);
      const shards = new ShardLayout(await listOpenShards(kinesis.client, stream));
      for (const r of stored) {
        expect(r.partitionKey).toBe(r.kinesisPartitionKey);
        // KCL drops a user record whose hash key is outside the shard it reads: none may be.
        const range = shards.shards.find((s) => s.shardId === r.shardId)!;
        expect(BigInt(r.explicitHashKey!) >= BigInt(range.start) && BigInt(r.explicitHashKey!) <= BigInt(range.end)).toBe(true);
        expect(r.kinesisBytes).toBeLessThanOrEqual(target);
      }
      // Parts are spread by their own keys: every shard got some.
      expect(new Set(stored.map((r) => r.shardId)).size).toBe(3);
      // Queued records share records: after the first call, calls carry many user records each.
      expect(Math.max(...sink.calls.map((c) => Math.max(...c.userKeys.map((u) => u.length))))).toBeGreaterThan(1);
    });

    it('fails a write at once on an error no retry can fix (missing stream)', async () => {
      const w = new KinesisWriter({ sink, stream: `${stream}-missing`, ...fast, maxAttempts: 1000 });
      const err = await w.write(batches(1, 3)[0]!).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KinesisWriteError);
      expect((err as KinesisWriteError).code).toBe('ResourceNotFoundException');
      // The chaos sink may fault first, but the first call that reaches kinesalite ends it (it calms after 40 calls).
      expect(sink.calls.length).toBeLessThanOrEqual(41);
    });
  });
}

describe('KinesisWriter under injected faults', () => {
  let stream: string;
  beforeEach<KinesisFixtures>(async ({ kinesis }) => {
    stream = await newStream(kinesis.client, 2);
  });

  it('retries only the failed entries of a partial failure', async ({ kinesis }) => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) =>
      call === 0 ? { kind: 'partial', fail: (i) => (i % 3 === 0 ? 'ProvisionedThroughputExceededException' : i % 3 === 1 ? 'InternalFailure' : undefined) } : undefined,
    );
    const metrics = new GatewayMetrics();
    const writer = new KinesisWriter({ sink, stream, metrics, recordTargetBytes: 1024, maxPutsInFlight: 1, ...fast });
    const recs = batches(1, 400, 1024, ONE)[0]!;
    expect(recs.length).toBeGreaterThan(10);
    await writer.write(recs);
    expect(sink.calls.length).toBe(2);
    expect(sink.calls[0]!.keys.length).toBeGreaterThan(10);
    const failed = sink.calls[0]!.userKeys.filter((_, i) => i % 3 !== 2);
    // The failed Kinesis records, and only those, are sent again, as they were.
    expect(sink.calls[1]!.userKeys).toEqual(failed);
    const stored = await readEventRecords(kinesis.client, stream);
    expect(stored.map(recordKey).sort()).toEqual(recs.map((r) => r.key).sort());
    expect(metrics.stats.putRetries).toBe(1);
    expect(metrics.stats.failedEntries).toBe(failed.length);
    const text = await metrics.registry.getSingleMetricAsString('cairn_gateway_kinesis_failed_entries_total');
    expect(text).toContain('code="ProvisionedThroughputExceededException"');
    expect(text).toContain('code="InternalFailure"');
  });

  it('slows down on throttling: the gap between calls doubles while Kinesis keeps throttling', async ({ kinesis }) => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call < 4 ? (call % 2 ? { kind: 'throttle-call' } : { kind: 'throttle-entries' }) : undefined));
    // random() = 0 turns the jittered per-entry backoff off, leaving only the shared throttle delay.
    const writer = new KinesisWriter({ sink, stream, maxPutsInFlight: 1, baseDelayMs: 40, maxDelayMs: 2000, random: () => 0 });
    const recs = batches(1, 10)[0]!;
    await writer.write(recs);
    expect(sink.calls.length).toBe(5);
    const gaps = sink.calls.slice(1).map((c, i) => c.at - sink.calls[i]!.at);
    // 40, 80, 160, 320 ms: timers may fire late, never early (allow 2 ms of clock rounding).
    gaps.forEach((g, i) => expect(g).toBeGreaterThanOrEqual(40 * 2 ** i - 2));
    expect([...eventsByKey(await readEventRecords(kinesis.client, stream)).keys()].sort()).toEqual(recs.map((r) => r.key).sort());
  });

  it('throttling of one call also delays calls of other writes (shared slow-down)', async ({ kinesis }) => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'throttle-call' } : undefined));
    const writer = new KinesisWriter({ sink, stream, maxPutsInFlight: 2, baseDelayMs: 200, maxDelayMs: 2000, random: () => 0 });
    const first = writer.write(batches(1, 5)[0]!);
    await new Promise((r) => setTimeout(r, 20)); // the first call has been throttled by now
    const t0 = performance.now();
    await writer.write(batches(1, 3, undefined, THREE, 'other')[0]!);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    await first;
  });

  it('a timeout after a successful put writes the records twice, each copy carrying the same idempotency key', async ({ kinesis }) => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'timeout-after-success' } : undefined));
    const writer = new KinesisWriter({ sink, stream, recordTargetBytes: 2048, maxPutsInFlight: 1, ...fast });
    const recs = batches(1, 300, 2048)[0]!;
    await writer.write(recs);
    expect(sink.calls.length).toBe(2);
    const stored = await readEventRecords(kinesis.client, stream);
    expect(stored.length).toBe(recs.length * 2);
    const counts = new Map<string, number>();
    for (const r of stored) counts.set(recordKey(r), (counts.get(recordKey(r)) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(recs.map((r) => r.key).sort());
    expect([...counts.values()].every((c) => c === 2)).toBe(true);
  });

  it('gives up after maxAttempts and rejects the write with the last error code', async ({ kinesis }) => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), () => ({ kind: 'throttle-entries' }));
    const writer = new KinesisWriter({ sink, stream, maxAttempts: 3, ...fast });
    const err = (await writer.write(batches(1, 5)[0]!).catch((e: unknown) => e)) as KinesisWriteError;
    expect(err).toBeInstanceOf(KinesisWriteError);
    expect(sink.calls.length).toBe(3);
  });

  it('paces puts under the per-shard record quota when the shard count is known', async ({ kinesis }) => {
    const sink = new RecordingSink(kinesisSink(kinesis.client));
    // 1 shard at 200 Kinesis records/s: a full bucket covers the first 200, the other 400 take 2 s.
    const writer = new KinesisWriter({ sink, stream, recordTargetBytes: 1024, shardCount: 1, perShardRecordsPerSec: 200, maxRecordsPerPut: 100 });
    const t0 = performance.now();
    await Promise.all(unshareable(600, 1024).map((r) => writer.write(r)));
    // Timers never fire early, so this lower bound cannot fail by chance.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(sink.calls.reduce((a, c) => a + c.keys.length, 0)).toBe(600);
    // Per second after the first burst, never more than the quota plus one call.
    const t = sink.calls[0]!.at;
    const inFirst1500 = sink.calls.filter((c) => c.at - t < 1500).reduce((a, c) => a + c.keys.length, 0);
    expect(inFirst1500).toBeLessThanOrEqual(200 + 300 + 100);
  });

  it('adaptive linger: an idle writer puts at once; what arrives while a call for its shard is in flight waits for it and shares the next call', async ({ kinesis }) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'hold', gate } : undefined));
    // One shard; a linger bound far beyond the test: only the call coming back lets the others go.
    const writer = new KinesisWriter({ sink, stream, shardCount: 1, lingerMs: 600_000, ...fast });
    const [first, ...rest] = batches(6, 4, undefined, ONE);
    const t0 = performance.now();
    const firstDone = writer.write(first!);
    await eventually(() => sink.calls.length === 1, 5000, 'the first write put without waiting');
    expect(performance.now() - t0).toBeLessThan(1000);
    const others = Promise.all(rest.map((r) => writer.write(r)));
    await new Promise((r) => setImmediate(r));
    expect(writer.queued).toBe(rest.length); // held back behind the call in flight
    release();
    await Promise.all([firstDone, others]);
    expect(sink.calls.length).toBe(2);
    // The five that waited went together, aggregated into one Kinesis record.
    expect(sink.calls[1]!.keys.length).toBe(1);
    expect(sink.calls[1]!.userKeys[0]!.length).toBe(rest.length);
    writer.close();
  });

  it('with lingerMs 0 nothing waits behind a call in flight', async ({ kinesis }) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'hold', gate } : undefined));
    const writer = new KinesisWriter({ sink, stream, shardCount: 1, lingerMs: 0, maxPutsInFlight: 8, ...fast });
    const [a, b] = batches(2, 4, undefined, ONE);
    const held = writer.write(a!);
    await eventually(() => sink.calls.length === 1, 5000, 'first call');
    await writer.write(b!);
    release();
    await held;
    expect(sink.calls.length).toBe(2);
  });

  it('does not linger once a full record\'s worth is queued', async ({ kinesis }) => {
    const sink = new RecordingSink(kinesisSink(kinesis.client));
    const writer = new KinesisWriter({ sink, stream, recordTargetBytes: 4096, lingerMs: 600_000, ...fast });
    // Two records of more than half the target: a full record's worth, so no 10-minute wait.
    await writer.write(unshareable(2, 4096).flat());
    expect(sink.calls.length).toBeGreaterThanOrEqual(1);
  });

  it('drain() puts what lingers at once', async ({ kinesis }) => {
    const sink = new RecordingSink(kinesisSink(kinesis.client));
    // A linger longer than the test timeout: only drain() can get these records out in time.
    const writer = new KinesisWriter({ sink, stream, lingerMs: 120_000, ...fast });
    const written = writer.write(batches(1, 5)[0]!);
    await writer.drain();
    await written;
    expect(sink.calls.length).toBe(1);
    expect(writer.queued).toBe(0);
  });

  it('a stuck call does not hold back other writes', async ({ kinesis }) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'hold', gate } : undefined));
    const writer = new KinesisWriter({ sink, stream, lingerMs: 1, maxPutsInFlight: 4, ...fast });
    const [a, b] = batches(2, 3, undefined, ONE);
    const stuck = writer.write(a!);
    await eventually(() => sink.calls.length === 1, 5000, 'first call');
    await writer.write(b!); // resolves while the first call is still held
    expect(sink.calls.length).toBe(2);
    release();
    await stuck;
  });

  it('keeps at most maxPutsInFlight calls in flight', async ({ kinesis }) => {
    let inFlight = 0;
    let peak = 0;
    const inner = kinesisSink(kinesis.client);
    const sink = {
      async putRecords(input: Parameters<typeof inner.putRecords>[0]) {
        peak = Math.max(peak, ++inFlight);
        try {
          await new Promise((r) => setTimeout(r, 10));
          return await inner.putRecords(input);
        } finally {
          inFlight--;
        }
      },
    };
    const writer = new KinesisWriter({ sink, stream, recordTargetBytes: 1024, maxPutsInFlight: 2, maxRecordsPerPut: 5 });
    await Promise.all(unshareable(40, 1024).map((r) => writer.write(r)));
    expect(peak).toBe(2);
  });
});
