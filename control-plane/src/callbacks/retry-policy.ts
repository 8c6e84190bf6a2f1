/**
 * When to try a callback again, as data plus pure functions (no timers, no I/O), so the worker,
 * the tests and the documentation all read the same schedule.
 *
 * Classification is deliberately simple: any 2xx is success, everything else (other statuses,
 * network errors, timeouts) is retried until the give-up window closes. Receivers misconfigure
 * routes, auth and deployments temporarily (a 404 or 401 during a deploy is common), and a
 * callback that is dropped on the first 4xx is lost for good; retrying costs us little because
 * the backoff is capped. There is therefore no list of retryable statuses: it would have to
 * contain every non-2xx status.
 */

export interface RetryPolicy {
  /** Delay after the first failed attempt. */
  readonly initialDelayMs: number;
  /** Upper bound of the backoff delay, jitter included. Retry-After may ask for longer. */
  readonly maxDelayMs: number;
  /** Growth factor of the delay per attempt, ≥ 1. */
  readonly multiplier: number;
  /**
   * Fraction (0–1) by which each delay is randomly shortened, so that callbacks that failed
   * together (a receiver outage) do not all come back in the same second.
   */
  readonly jitter: number;
  /** Give-up window counted from the first attempt; no attempt is scheduled after it. */
  readonly maxAgeMs: number;
}

const SECOND_MS = 1000;
const HOUR_MS = 60 * 60 * SECOND_MS;

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  initialDelayMs: 5 * SECOND_MS,
  maxDelayMs: HOUR_MS,
  multiplier: 2,
  jitter: 0.2,
  maxAgeMs: 72 * HOUR_MS,
});

/** Throws a RangeError naming the first field that makes the policy unusable. */
export function assertValidRetryPolicy(policy: RetryPolicy): void {
  const { initialDelayMs, maxDelayMs, multiplier, jitter, maxAgeMs } = policy;
  if (!(Number.isFinite(initialDelayMs) && initialDelayMs > 0)) throw new RangeError(`initialDelayMs ${initialDelayMs} must be a positive number`);
  if (!(Number.isFinite(maxDelayMs) && maxDelayMs >= initialDelayMs)) {
    throw new RangeError(`maxDelayMs ${maxDelayMs} must be at least initialDelayMs (${initialDelayMs})`);
  }
  if (!(Number.isFinite(multiplier) && multiplier >= 1)) throw new RangeError(`multiplier ${multiplier} must be 1 or more`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`jitter ${jitter} must be a fraction from 0 to 1`);
  if (!(Number.isFinite(maxAgeMs) && maxAgeMs >= 0)) throw new RangeError(`maxAgeMs ${maxAgeMs} must be zero or more`);
}

export interface AttemptOutcome {
  /** HTTP status of the response, when one arrived. */
  status?: number;
  /** Network error, timeout or abort, when no response arrived. */
  error?: unknown;
}

/**
 * 'success' for a 2xx, 'retry' for anything else. A status wins over an error: if the receiver
 * answered 2xx and then the connection broke, it did get the callback.
 */
export function classifyAttempt(outcome: AttemptOutcome): 'success' | 'retry' {
  if (outcome.status !== undefined) return outcome.status >= 200 && outcome.status <= 299 ? 'success' : 'retry';
  if (outcome.error !== undefined) return 'retry';
  throw new TypeError('classifyAttempt needs a status or an error');
}

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// The three HTTP-date forms recipients must accept (RFC 9110 §5.6.7). Written out because
// Date.parse also accepts "1", "2025" and local-time strings, which must not count as dates.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

function utc(year: number, month: string, day: number, hours: number, minutes: number, seconds: number): number | undefined {
  const monthIndex = MONTHS.indexOf(month);
  const ms = Date.UTC(year, monthIndex, day, hours, minutes, seconds);
  const check = new Date(ms);
  // Date.UTC rolls 31 Feb over to March; a header with an impossible date is ignored instead.
  if (check.getUTCDate() !== day || check.getUTCHours() !== hours || check.getUTCMinutes() !== minutes || check.getUTCSeconds() !== seconds) {
    return undefined;
  }
  return ms;
}

function parseHttpDate(value: string, now: Date): number | undefined {
  let m = IMF_FIXDATE.exec(value);
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  m = RFC850_DATE.exec(value);
  if (m) {
    // RFC 9110: a two-digit year more than 50 years in the future means the previous century.
    const yy = Number(m[3]);
    let year = Math.floor(now.getUTCFullYear() / 100) * 100 + yy;
    if (year > now.getUTCFullYear() + 50) year -= 100;
    return utc(year, m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = ASCTIME_DATE.exec(value);
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  return undefined;
}

/**
 * The wait a Retry-After header asks for, in milliseconds: delay-seconds or an HTTP-date (a date
 * in the past means 0). Undefined when the header is absent or malformed, so that it is ignored
 * rather than trusted.
 */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * SECOND_MS, Number.MAX_SAFE_INTEGER);
  const at = parseHttpDate(text, now);
  return at === undefined ? undefined : Math.max(0, at - now.getTime());
}

/** The backoff delay before jitter: initial × multiplier^(attempt−1), capped. */
export function backoffDelayMs(policy: RetryPolicy, attempt: number): number {
  // Exponentiation overflows to Infinity for large attempt counts, which the cap absorbs.
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (attempt - 1));
}

export interface NextAttemptArgs {
  policy: RetryPolicy;
  /** Attempts made so far, including the one that just failed (1 after the first attempt). */
  attempt: number;
  firstAttemptAt: Date;
  /** When the failed attempt finished; the delay counts from here. */
  now: Date;
  /** The Retry-After header of the failed response, if any. */
  retryAfterHeader?: string;
  /** Source of randomness in [0, 1); inject a constant for deterministic tests. @default Math.random */
  random?: () => number;
}

/**
 * When to try again after a failed attempt, or null to give up (dead letter).
 *
 * - Delay = backoff × (1 − jitter × random): jitter only shortens, so maxDelayMs is a true cap.
 * - Retry-After is honoured as a minimum (the delay is the larger of the two) and is not capped by
 *   maxDelayMs: the receiver knows when it will be back. It is not allowed to stretch the
 *   give-up window either: if it points past the window, the callback is given up now rather
 *   than held for a time the receiver did not ask for.
 * - The give-up window is inclusive: an attempt exactly at firstAttemptAt + maxAgeMs is made.
 */
export function nextAttemptAt(args: NextAttemptArgs): Date | null {
  const { policy, attempt, firstAttemptAt, now, retryAfterHeader, random = Math.random } = args;
  assertValidRetryPolicy(policy);
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt ${attempt} must be a whole number of attempts made, 1 or more`);

  // Clamped so that a misbehaving random source cannot push the delay outside [backoff × (1 − jitter), backoff].
  const r = Math.min(Math.max(random(), 0), 1);
  const backoffMs = backoffDelayMs(policy, attempt) * (1 - policy.jitter * r);
  const retryAfterMs = parseRetryAfter(retryAfterHeader, now);
  const delayMs = Math.max(backoffMs, retryAfterMs ?? 0);

  const atMs = now.getTime() + Math.round(delayMs);
  const deadlineMs = firstAttemptAt.getTime() + policy.maxAgeMs;
  return atMs > deadlineMs ? null : new Date(atMs);
}
