/**
 * PutRecords sinks for tests, both around the REAL client (kinesalite): a recording
 * pass-through, and a fault-injecting wrapper that produces what kinesalite cannot
 * (it only ever rejects whole calls): partial failures, throttling, a timeout after the
 * put succeeded, and calls held until released.
 */
import type { PutRecordsResult, PutRecordsSink } from '../../gateway/kinesis-writer/sink.js';
import { deaggregate, isAggregated } from '../../backend/kinesis/kpl-aggregation.js';
import { decodeRecord, recordKey } from '../../backend/kinesis/record-format.js';
import { rng } from '../../plugin/hosts/sim-host.js';

type Input = Parameters<PutRecordsSink['putRecords']>[0];

export interface CallLog {
  at: number;
  /** Partition keys in request order. */
  keys: string[];
  /** Per Kinesis record, in request order, the idempotency keys of the user records it carries. */
  userKeys: string[][];
  /** Data + partition key bytes of the call. */
  bytes: number;
  fault: Fault['kind'] | 'none';
}

export type Fault =
  /** Entries whose index `fail` maps to an error code are reported failed and not forwarded. */
  | { kind: 'partial'; fail: (index: number, userKeys: string[]) => string | undefined }
  /** Every entry reported failed with ProvisionedThroughputExceededException. */
  | { kind: 'throttle-entries' }
  /** The whole call rejected with ProvisionedThroughputExceededException. */
  | { kind: 'throttle-call' }
  /** The put reaches Kinesis, then the call fails as if it timed out. */
  | { kind: 'timeout-after-success' }
  /** The call waits for `gate`, then goes through. */
  | { kind: 'hold'; gate: Promise<void> };

export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client' });
}

export class RecordingSink implements PutRecordsSink {
  readonly calls: CallLog[] = [];
  constructor(
    readonly inner: PutRecordsSink,
    private readonly plan: (call: number, input: Input) => Fault | undefined = () => undefined,
  ) {}

  async putRecords(input: Input): Promise<PutRecordsResult> {
    const keys = input.Records.map((r) => r.PartitionKey);
    const userKeys = input.Records.map((r) => userRecordKeys(r.Data));
    const bytes = input.Records.reduce((a, r) => a + r.Data.length + Buffer.byteLength(r.PartitionKey), 0);
    const fault = this.plan(this.calls.length, input);
    this.calls.push({ at: performance.now(), keys, userKeys, bytes, fault: fault?.kind ?? 'none' });
    switch (fault?.kind) {
      case undefined:
        return this.inner.putRecords(input);
      case 'hold':
        await fault.gate;
        return this.inner.putRecords(input);
      case 'throttle-call':
        throw awsError('ProvisionedThroughputExceededException', 'Rate exceeded for shard');
      case 'throttle-entries':
        return {
          FailedRecordCount: input.Records.length,
          Records: input.Records.map(() => ({ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard' })),
        };
      case 'timeout-after-success':
        await this.inner.putRecords(input);
        throw Object.assign(new Error('socket timed out after the request was sent'), { name: 'TimeoutError' });
      case 'partial': {
        const codes = input.Records.map((_, i) => fault.fail(i, userKeys[i]!));
        const forward = input.Records.filter((_, i) => codes[i] === undefined);
        const inner = forward.length ? await this.inner.putRecords({ StreamName: input.StreamName, Records: forward }) : { Records: [] };
        if (inner.FailedRecordCount) throw new Error('inner put failed entries; this wrapper does not merge those');
        let j = 0;
        return {
          FailedRecordCount: codes.filter((c) => c !== undefined).length,
          Records: codes.map((c) => (c === undefined ? inner.Records![j++]! : { ErrorCode: c, ErrorMessage: `injected ${c}` })),
        };
      }
    }
  }
}

/** Idempotency keys of the user records in one Kinesis record's data (aggregated or plain). */
export function userRecordKeys(data: Uint8Array): string[] {
  const users = isAggregated(data) ? deaggregate(data).map((u) => u.data) : [data];
  return users.map((d) => recordKey(decodeRecord(d)));
}

/** A deterministic pseudo-random source (mulberry32), so fault patterns repeat run to run. */
export const seeded = rng;

/** A mix of every fault on about half the calls; no call faults after `calmAfter` calls, so writes finish. */
export function chaosPlan(seed: number, calmAfter = 40): (call: number) => Fault | undefined {
  const rnd = seeded(seed);
  return (call) => {
    if (call >= calmAfter) return undefined;
    const x = rnd();
    if (x < 0.2) return { kind: 'partial', fail: () => (rnd() < 0.5 ? (rnd() < 0.5 ? 'ProvisionedThroughputExceededException' : 'InternalFailure') : undefined) };
    if (x < 0.3) return { kind: 'throttle-entries' };
    if (x < 0.4) return { kind: 'throttle-call' };
    if (x < 0.5) return { kind: 'timeout-after-success' };
    return undefined;
  };
}
