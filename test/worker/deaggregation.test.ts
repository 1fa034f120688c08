/**
 * The worker reads what the gateway writes: the sample fixture's events cut into
 * batches, split into user records by the gateway's own code (gateway/batch-records.ts)
 * and put by the gateway's KinesisWriter as KPL aggregates into REAL kinesalite; one
 * server's batches go in as plain (non-aggregated) records instead, and a corrupted copy
 * of an aggregate is put too. The worker, on REAL Redis, must decide exactly
 * expected.json, count the corrupt record as bad, and ingest every user record.
 *
 * (Only the worker's record reading changed for aggregation; its own tests, in
 * test/worker, keep putting plain records.)
 */
import { describe, expect } from 'vitest';
import { batchToRecords, type UserRecord } from '../../gateway/batch-records.js';
import { kinesisSink } from '../../gateway/kinesis-writer/sink.js';
import { KinesisWriter } from '../../gateway/kinesis-writer/writer.js';
import { PartitionScheme } from '../../backend/kinesis/partition-keys.js';
import { encodeRecord, RECORD_FORMAT_VERSION, type EventRecord } from '../../backend/kinesis/record-format.js';
import { readDecidedPrizes } from '../../worker/worker.js';
import type { DiscreteEvent } from '../../protocol/index.js';
import { expectedPrizes, fixtureEvents, fixtureRules, prng } from './support/fixture.js';
import { workerTest as it } from '../support/fixtures.js';
import { finalClosed, registerServers, waitClosedAt, waitFor } from './support/harness.js';
import { RecordingSink } from '../gateway/fault-sink.js';
import { readAll } from '../gateway/support.js';

const HUNT = 'oracle-hunt';

interface Batch {
  server: string;
  epoch: number;
  seq: number;
  wm: number;
  ev: DiscreteEvent[];
}

/** One server's events in batches of 5 to 60, each watermark just below the next batch's first event, then a final heartbeat. */
function batchesOf(server: string, epoch: number, events: DiscreteEvent[], finalWm: number, seed: number): Batch[] {
  const rnd = prng(seed);
  const out: Batch[] = [];
  let i = 0;
  while (i < events.length) {
    const ev = events.slice(i, i + 5 + Math.floor(rnd() * 56));
    i += ev.length;
    const next = events[i];
    out.push({ server, epoch, seq: out.length + 1, wm: next ? next.t - 1 : ev[ev.length - 1]!.t, ev });
  }
  out.push({ server, epoch, seq: out.length + 1, wm: finalWm, ev: [] });
  return out;
}

describe('worker on aggregated records', () => {
  it('decides expected.json from KPL aggregates, plain records alongside, and a corrupt aggregate skipped', async ({ kinesis, workerEnv }) => {
    const env = await workerEnv('kpl', 3);
    const fx = fixtureEvents(fixtureRules('30s'));
    const finalWm = fx.lastT + 10 * 60_000;
    await registerServers(env.redis, env.keys, Object.fromEntries(fx.servers.map((s) => [s.server, s.epoch])));
    const w = await env.start();

    const scheme = new PartitionScheme(3);
    const [plainServer, ...aggServers] = fx.servers;
    // Small targets: batches split into several parts, several batches per aggregate.
    const target = 2048;
    const sink = new RecordingSink(kinesisSink(kinesis.client));
    const writer = new KinesisWriter({ sink, stream: env.stream, recordTargetBytes: target, maxPutsInFlight: 2 });
    const userRecords: UserRecord[][] = [];
    aggServers.forEach((s, k) => {
      for (const b of batchesOf(s.server, s.epoch, s.events, finalWm, 100 + k)) {
        userRecords.push(batchToRecords({ server: b.server, epoch: b.epoch, seq: b.seq, wm: b.wm }, b.ev, { scheme, targetBytes: target }));
      }
    });
    const parts = userRecords.flat().length;
    expect(parts).toBeGreaterThan(userRecords.length); // batches really are split
    await Promise.all(userRecords.map((r) => writer.write(r)));
    expect(writer.metrics.stats.records).toBeLessThan(parts); // and really are aggregated

    const plain: EventRecord[] = batchesOf(plainServer!.server, plainServer!.epoch, plainServer!.events, finalWm, 99).map((b) => ({
      v: RECORD_FORMAT_VERSION, s: b.server, e: b.epoch, q: b.seq, pt: 0, np: 1, wm: b.wm, ev: b.ev,
    }));
    // A corrupt copy of an aggregate that is also in the stream intact: skipped, counted, harmless.
    const stored = await readAll(kinesis.client, env.stream);
    const corrupt = Buffer.from(stored[0]!.data);
    corrupt[10]! ^= 0x55;
    await env.put([...plain.map((r) => encodeRecord(r)), corrupt], 7);

    const end = finalClosed('30s', finalWm);
    await waitClosedAt(env.redis, env.keys, HUNT, end);
    const decided = await readDecidedPrizes(env.redis, env.keys, HUNT);
    expect(decided.map(({ hunt, reason, player, server, item, count }) => ({ hunt, reason, player, server, item, count }))).toEqual(expectedPrizes());
    await waitFor('every record read', async () => w.stats().records === parts + plain.length && w.stats().badRecords === 1);
    expect(w.stats()).toMatchObject({ duplicates: 0, lateEvents: 0, badRecords: 1, badEvents: 0 });
  });
});
