import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../gateway/rate-limiter.js';

describe('TokenBucket', () => {
  it('covers the burst at once, then makes takers wait for the debt at the rate', () => {
    let now = 0;
    const b = new TokenBucket(100, 100, () => now);
    expect(b.reserve(100)).toBe(0);
    expect(b.reserve(50)).toBe(500); // 50 tokens of debt at 100/s
    expect(b.reserve(50)).toBe(1000); // queued behind the first debt
    now = 1000;
    expect(b.reserve(0)).toBe(0); // debt of 100 repaid after 1 s
    now = 10_000;
    expect(b.reserve(150)).toBe(500); // the bucket never holds more than its burst
  });

  it('refuses a rate or burst that is not positive', () => {
    expect(() => new TokenBucket(0)).toThrow(RangeError);
    expect(() => new TokenBucket(10, -1)).toThrow(RangeError);
  });
});
