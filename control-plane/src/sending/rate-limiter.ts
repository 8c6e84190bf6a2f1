/**
 * Per-trunk token buckets in memory: no database round trip per request. A bucket holds one
 * second of tokens and each message takes one. A request larger than a second's worth (a
 * 1000-destination bulk on a 10/s trunk) is admitted when the bucket is full and overdraws it; the
 * trunk then waits until the debt is repaid. With several instances each enforces the limit on its own share
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
    // Small requests need their tokens; one larger than a second's worth needs a full bucket and overdraws it.
    const need = Math.min(count, ratePerSecond);
    if (b.tokens < need) return Math.max(1, Math.ceil((need - b.tokens) / ratePerSecond));
    b.tokens -= count;
    return 0;
  }
}
