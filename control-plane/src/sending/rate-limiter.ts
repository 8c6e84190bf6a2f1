/**
 * Per-trunk token buckets in memory: no database round trip per request. A bucket holds one
 * second of tokens; a request is admitted while the bucket is not empty and may overdraw it by
 * its message count (so a 1000-destination bulk is admitted on a 10/s trunk, and the trunk then
 * waits until the debt is repaid). With several instances each enforces the limit on its own share
 * of traffic (see docs): limits are per instance.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedMs: number; rate: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Returns 0 when admitted, otherwise the seconds to wait. */
  take(key: string, ratePerSecond: number | null, count: number): number {
    if (ratePerSecond === null) return 0;
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b || b.rate !== ratePerSecond) {
      b = { tokens: ratePerSecond, updatedMs: now, rate: ratePerSecond };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(ratePerSecond, b.tokens + ((now - b.updatedMs) / 1000) * ratePerSecond);
      b.updatedMs = now;
    }
    if (b.tokens <= 0) return Math.max(1, Math.ceil((1 - b.tokens) / ratePerSecond));
    b.tokens -= count;
    return 0;
  }
}
