/**
 * When the next PutRecords call may go: under the stream's write quota when the shard
 * count is known (1,000 records/s and 1 MiB/s per open shard; the writer updates the
 * count when the stream is resharded), and after a shared slow-down
 * once Kinesis throttles (a delay that doubles on each throttle and halves on each clean
 * call, so every call in flight backs off together instead of each retrying alone).
 */
import { sleep } from '../../common/async.js';
import { TokenBucket } from '../rate-limiter.js';

/** One shard's write quota. */
export interface ShardRates {
  recordsPerSec: number;
  bytesPerSec: number;
}

export class Pacer {
  private recordRate: TokenBucket | undefined;
  private byteRate: TokenBucket | undefined;
  private shards = 0;
  private throttleDelayMs = 0;
  /** Date.now() before which no call starts. */
  private nextPutAt = 0;

  constructor(
    private readonly perShard: ShardRates,
    private readonly maxBytesPerCall: number,
    private readonly baseDelayMs: number,
    private readonly maxDelayMs: number,
  ) {}

  /** Paces under the quota of `shards` open shards (0: the count is unknown, no pacing). */
  setShards(shards: number): void {
    if (shards === this.shards) return;
    this.shards = shards;
    if (shards <= 0) {
      this.recordRate = this.byteRate = undefined;
      return;
    }
    const bytesPerSec = shards * this.perShard.bytesPerSec;
    this.recordRate = new TokenBucket(shards * this.perShard.recordsPerSec);
    // A burst of at least one full call, so a 5 MiB call is paced rather than never allowed.
    this.byteRate = new TokenBucket(bytesPerSec, Math.max(bytesPerSec, this.maxBytesPerCall));
  }

  /** Waits out the throttle slow-down; undefined when there is none (no promise to wait on: the common case). */
  throttled(): Promise<void> | undefined {
    const wait = this.nextPutAt - Date.now();
    return wait > 0 ? sleep(wait) : undefined;
  }

  /** Waits until the shards' write quota covers a call of `records` records and `bytes` bytes; undefined when it does now. */
  quota(records: number, bytes: number): Promise<void> | undefined {
    if (!this.recordRate || !this.byteRate) return undefined;
    const wait = Math.max(this.recordRate.reserve(records), this.byteRate.reserve(bytes));
    return wait > 0 ? sleep(wait) : undefined;
  }

  /** Kinesis throttled a call or entries: every later call waits longer. */
  slowDown(): void {
    this.throttleDelayMs = Math.min(this.maxDelayMs, Math.max(this.baseDelayMs, this.throttleDelayMs * 2));
    this.nextPutAt = Math.max(this.nextPutAt, Date.now() + this.throttleDelayMs);
  }

  /** A call went through clean. */
  speedUp(): void {
    this.throttleDelayMs = this.throttleDelayMs / 2 < this.baseDelayMs ? 0 : this.throttleDelayMs / 2;
  }
}
