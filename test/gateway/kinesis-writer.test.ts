/**
 * The Kinesis writer against REAL kinesalite. One contract suite runs over two sinks
 * around the real client (colyseus style): a plain recording pass-through and a
 * fault-injecting wrapper. Then the faults the wrapper exists for, one at a time.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { batchToRecords, type OutRecord } from '../../gateway/batch-records.js';
import { KinesisWriteError, KinesisWriter, kinesisSink, type KinesisWriterOptions } from '../../gateway/kinesis-writer.js';
import { GatewayMetrics } from '../../gateway/metrics.js';
import { recordKey } from '../../gateway/record-format.js';
import { KINESIS_MAX_BYTES_PER_PUT, KINESIS_MAX_RECORDS_PER_PUT } from '../../protocol/limits.js';
import { chaosPlan, RecordingSink } from './fault-sink.js';
import { joins, newStream, readEventRecords, startKinesis, type Kinesis } from './support.js';

let kinesis: Kinesis;
beforeAll(async () => {
  kinesis = await startKinesis();
});
afterAll(async () => {
  await kinesis.stop();
});

/** `n` batches of `events` join events each, as records. */
function batches(n: number, events: number, targetBytes = 25 * 1024, server = 'srv-a'): OutRecord[][] {
  return Array.from({ length: n }, (_, i) => batchToRecords({ server, epoch: 1, seq: i + 1, wm: i }, joins(events, i * events), targetBytes));
}

/** About `n` records of about `approxBytes` each (one big batch split at that target). */
function bigRecords(n: number, approxBytes: number): OutRecord[] {
  const perEvent = 60;
  return batchToRecords({ server: 'srv-big', epoch: 1, seq: 1, wm: 0 }, joins(Math.ceil((n * approxBytes) / perEvent)), approxBytes);
}

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
    beforeEach(async () => {
      stream = await newStream(kinesis.client, 3);
      sink = impl.sink(kinesis);
      writer = new KinesisWriter({ sink, stream, maxPutsInFlight: 3, ...fast });
    });
    afterEach(async () => {
      await writer.drain();
    });

    it('resolves every write only when all its records are in Kinesis, each key at least once and copies identical', async () => {
      const all = batches(40, 120, 2048);
      await Promise.all(all.map((recs) => writer.write(recs)));
      const stored = await readEventRecords(kinesis.client, stream);
      const byKey = new Map<string, string>();
      for (const r of stored) {
        const k = recordKey(r);
        const body = JSON.stringify(r);
        if (byKey.has(k)) expect(byKey.get(k), `duplicate ${k} differs`).toBe(body);
        byKey.set(k, body);
      }
      const expected = all.flat().map((r) => r.key);
      expect([...byKey.keys()].sort()).toEqual([...expected].sort());
      // Duplicates only where a call timed out after Kinesis stored it.
      if (!sink.calls.some((c) => c.fault === 'timeout-after-success')) expect(stored.length).toBe(expected.length);
      expect(writer.metrics.stats.records).toBeGreaterThanOrEqual(expected.length);
      expect(sink.calls.some((c) => c.fault !== 'none')).toBe(impl.faults);
    });

    it('never puts more than 500 records in one call', async () => {
      const recs = batches(1300, 1); // one record per batch: well over 500 records in all
      const n = recs.flat().length;
      expect(n).toBeGreaterThan(KINESIS_MAX_RECORDS_PER_PUT * 2);
      await Promise.all(recs.map((r) => writer.write(r)));
      expect(sink.calls.length).toBeGreaterThanOrEqual(3);
      for (const c of sink.calls) expect(c.keys.length).toBeLessThanOrEqual(KINESIS_MAX_RECORDS_PER_PUT);
      expect(new Set((await readEventRecords(kinesis.client, stream)).map(recordKey)).size).toBe(n);
    });

    it('never puts more than 5 MiB (partition keys included) in one call', async () => {
      const recs = bigRecords(80, 200 * 1024); // ~16 MB in 200 KiB records
      const total = recs.reduce((a, r) => a + r.size, 0);
      expect(total).toBeGreaterThan(KINESIS_MAX_BYTES_PER_PUT * 2);
      await writer.write(recs);
      expect(sink.calls.length).toBeGreaterThanOrEqual(3);
      for (const c of sink.calls) expect(c.bytes).toBeLessThanOrEqual(KINESIS_MAX_BYTES_PER_PUT);
      expect(new Set((await readEventRecords(kinesis.client, stream)).map(recordKey)).size).toBe(recs.length);
    });

    it('fails a write at once on an error no retry can fix (missing stream)', async () => {
      const w = new KinesisWriter({ sink, stream: `${stream}-missing`, ...fast, maxAttempts: 1000 });
      const started = Date.now();
      const err = await w.write(batches(1, 3)[0]!).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KinesisWriteError);
      // The chaos sink may throttle first, but a missing stream is not retried for long.
      expect(Date.now() - started).toBeLessThan(5000);
    });
  });
}

describe('KinesisWriter under injected faults', () => {
  let stream: string;
  beforeEach(async () => {
    stream = await newStream(kinesis.client, 2);
  });

  it('retries only the failed entries of a partial failure', async () => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) =>
      call === 0 ? { kind: 'partial', fail: (i) => (i % 3 === 0 ? 'ProvisionedThroughputExceededException' : i % 3 === 1 ? 'InternalFailure' : undefined) } : undefined,
    );
    const metrics = new GatewayMetrics();
    const writer = new KinesisWriter({ sink, stream, metrics, maxPutsInFlight: 1, ...fast });
    const recs = batches(1, 400, 1024)[0]!;
    expect(recs.length).toBeGreaterThan(10);
    await writer.write(recs);
    expect(sink.calls.length).toBe(2);
    const failed = sink.calls[0]!.keys.filter((_, i) => i % 3 !== 2);
    expect(sink.calls[1]!.keys).toEqual(failed);
    const stored = await readEventRecords(kinesis.client, stream);
    expect(stored.map(recordKey).sort()).toEqual(recs.map((r) => r.key).sort());
    expect(metrics.stats.putRetries).toBe(1);
    expect(metrics.stats.failedEntries).toBe(failed.length);
    const text = await metrics.registry.getSingleMetricAsString('cairn_gateway_kinesis_failed_entries_total');
    expect(text).toContain('code="ProvisionedThroughputExceededException"');
    expect(text).toContain('code="InternalFailure"');
  });

  it('slows down on throttling: the gap between calls doubles while Kinesis keeps throttling', async () => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call < 4 ? (call % 2 ? { kind: 'throttle-call' } : { kind: 'throttle-entries' }) : undefined));
    // random() = 0 turns the jittered per-entry backoff off, leaving only the shared throttle delay.
    const writer = new KinesisWriter({ sink, stream, maxPutsInFlight: 1, baseDelayMs: 40, maxDelayMs: 2000, random: () => 0 });
    await writer.write(batches(1, 10)[0]!);
    expect(sink.calls.length).toBe(5);
    const gaps = sink.calls.slice(1).map((c, i) => c.at - sink.calls[i]!.at);
    // 40, 80, 160, 320 ms (timers may fire a little late, never early; allow 2 ms of clock rounding).
    gaps.forEach((g, i) => expect(g).toBeGreaterThanOrEqual(40 * 2 ** i - 2));
    expect(gaps[3]!).toBeGreaterThan(gaps[0]! * 4);
    expect((await readEventRecords(kinesis.client, stream)).length).toBe(1);
  });

  it('throttling of one call also delays calls of other writes (shared slow-down)', async () => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'throttle-call' } : undefined));
    const writer = new KinesisWriter({ sink, stream, maxPutsInFlight: 2, baseDelayMs: 200, maxDelayMs: 2000, random: () => 0 });
    const first = writer.write(batches(1, 5)[0]!);
    await new Promise((r) => setTimeout(r, 20)); // the first call has been throttled by now
    const t0 = performance.now();
    await writer.write(batchToRecords({ server: 'other', epoch: 1, seq: 1, wm: 0 }, joins(3)));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    await first;
  });

  it('a timeout after a successful put writes the records twice, each copy carrying the same idempotency key', async () => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), (call) => (call === 0 ? { kind: 'timeout-after-success' } : undefined));
    const writer = new KinesisWriter({ sink, stream, maxPutsInFlight: 1, ...fast });
    const recs = batches(1, 300, 2048)[0]!;
    await writer.write(recs);
    const stored = await readEventRecords(kinesis.client, stream);
    expect(stored.length).toBe(recs.length * 2);
    const counts = new Map<string, number>();
    for (const r of stored) counts.set(recordKey(r), (counts.get(recordKey(r)) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(recs.map((r) => r.key).sort());
    expect([...counts.values()].every((c) => c === 2)).toBe(true);
  });

  it('gives up after maxAttempts and rejects the write with the last error code', async () => {
    const sink = new RecordingSink(kinesisSink(kinesis.client), () => ({ kind: 'throttle-entries' }));
    const writer = new KinesisWriter({ sink, stream, maxAttempts: 3, ...fast });
    const err = (await writer.write(batches(1, 5)[0]!).catch((e: unknown) => e)) as KinesisWriteError;
    expect(err).toBeInstanceOf(KinesisWriteError);
    expect(sink.calls.length).toBe(3);
  });

  it('paces puts under the per-shard record quota when the shard count is known', async () => {
    const sink = new RecordingSink(kinesisSink(kinesis.client));
    // 1 shard at 200 records/s: a full bucket covers the first 200, the other 400 take 2 s.
    const writer = new KinesisWriter({ sink, stream, shardCount: 1, perShardRecordsPerSec: 200, maxRecordsPerPut: 100 });
    const t0 = performance.now();
    await Promise.all(batches(600, 1).map((r) => writer.write(r)));
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(elapsed).toBeLessThan(6000);
    // Per second after the first burst, never more than the quota plus one call.
    const t = sink.calls[0]!.at;
    const inFirst1500 = sink.calls.filter((c) => c.at - t < 1500).reduce((a, c) => a + c.keys.length, 0);
    expect(inFirst1500).toBeLessThanOrEqual(200 + 300 + 100);
  });

  it('keeps at most maxPutsInFlight calls in flight', async () => {
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
    const writer = new KinesisWriter({ sink, stream, maxPutsInFlight: 2, maxRecordsPerPut: 5 });
    await Promise.all(batches(20, 50, 1024).map((r) => writer.write(r)));
    expect(peak).toBe(2);
  });
});
