import { RateLimiterMemory } from 'rate-limiter-flexible';
import { rateLimited } from '../errors';

export interface BruteForceOptions {
  /** Failed authentications one client IP may make per window before it is blocked. */
  maxFailuresPerIp: number;
  /** Failed authentications against one username (from any IP) per window. */
  maxFailuresPerUsername: number;
  windowSeconds: number;
  blockSeconds: number;
}

/**
 * Slows down credential guessing on the send API (Basic auth), the admin API (bearer tokens), the
 * panel sign-in and share links. Only failures count, so busy senders with good credentials are
 * never limited. The username limit is higher than the IP limit: it stops a distributed guess
 * against one trunk, at the price that such an attack also pauses that trunk's clients until
 * the block ends. Counters live in memory, per instance.
 */
export class BruteForceGuard {
  private readonly byIp: RateLimiterMemory;
  private readonly byUsername: RateLimiterMemory;

  constructor(private readonly opts: BruteForceOptions) {
    this.byIp = new RateLimiterMemory({ keyPrefix: 'ip', points: opts.maxFailuresPerIp, duration: opts.windowSeconds, blockDuration: opts.blockSeconds });
    this.byUsername = new RateLimiterMemory({ keyPrefix: 'user', points: opts.maxFailuresPerUsername, duration: opts.windowSeconds, blockDuration: opts.blockSeconds });
  }

  async assertAllowed(ip: string | undefined, username?: string): Promise<void> {
    const checks: Array<[RateLimiterMemory, string | undefined, number, string]> = [
      [this.byIp, ip, this.opts.maxFailuresPerIp, 'this client address'],
      [this.byUsername, username, this.opts.maxFailuresPerUsername, 'this username'],
    ];
    for (const [limiter, key, max, what] of checks) {
      if (!key) continue;
      const state = await limiter.get(key);
      if (state && state.consumedPoints >= max) {
        const seconds = Math.max(1, Math.ceil(state.msBeforeNext / 1000));
        throw rateLimited('TOO_MANY_AUTH_FAILURES', `Too many failed authentications from ${what}; try again in ${seconds} s`, seconds);
      }
    }
  }

  async recordFailure(ip: string | undefined, username?: string): Promise<void> {
    await Promise.all([ip ? this.byIp.consume(ip).catch(() => undefined) : undefined, username ? this.byUsername.consume(username).catch(() => undefined) : undefined]);
  }
}
