/**
 * A token bucket that hands out reservations: a caller takes what it needs at once
 * (going into debt if need be) and is told how long to wait until the debt is repaid.
 * Concurrent callers queue up behind each other's debt, so the long-run rate holds
 * whatever the size of each take.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  /** `ratePerSec` tokens per second, at most `burst` saved up (a full bucket at start). */
  constructor(
    readonly ratePerSec: number,
    readonly burst: number = ratePerSec,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(ratePerSec > 0) || !(burst > 0)) throw new RangeError(`token bucket: rate ${ratePerSec} and burst ${burst} must be > 0`);
    this.tokens = burst;
    this.last = now();
  }

  /** Takes `n` tokens; returns how many ms to wait before using them (0 when covered now). */
  reserve(n: number): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSec);
    this.last = t;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.ratePerSec) * 1000;
  }
}
