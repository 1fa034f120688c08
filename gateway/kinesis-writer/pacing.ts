/**
 * When the next PutRecords call may go: under the stream's write quota when the shard
 * count is known (1,000 records/s and 1 MiB/s per shard), and after a shared slow-down
 * once Kinesis throttles (a delay that doubles on each throttle and halves on each clean
 * call, so every call in flight backs off together instead of each retrying alone).
 */
import { sleep } from '../../common/async.js';
import { TokenBucket } from '../rate-limiter.js';

export class Pacer {
  private readonly recordRate: TokenBucket | undefined;
  private readonly byteRate: TokenBucket | undefined;
  private throttleDelayMs = 0;
  /** Date.now() before which no call starts. */
  private nextPutAt = 0;

  constructor(
    rates: { recordsPerSec: number; bytesPerSec: number } | undefined,
    maxBytesPerCall: number,
    private readonly baseDelayMs: number,
    private readonly maxDelayMs: number,
  ) {
    if (rates) {
      this.recordRate = new TokenBucket(rates.recordsPerSec);
      // A burst of at least one full call, so a 5 MiB call is paced rather than never allowed.
      this.byteRate = new TokenBucket(rates.bytesPerSec, Math.max(rates.bytesPerSec, maxBytesPerCall));
    }
  }

  /** Waits out the throttle slow-down. */
  async throttled(): Promise<void> {
    const wait = this.nextPutAt - Date.now();
    if (wait > 0) await sleep(wait);
  }

  /** Waits until the shards' write quota covers a call of `records` records and `bytes` bytes. */
  async quota(records: number, bytes: number): Promise<void> {
    if (!this.recordRate || !this.byteRate) return;
    const wait = Math.max(this.recordRate.reserve(records), this.byteRate.reserve(bytes));
    if (wait > 0) await sleep(wait);
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
