import FakeTimers from '@sinonjs/fake-timers';
import { expect } from 'chai';
import fc from 'fast-check';
import {
  DEFAULT_RETRY_POLICY,
  backoffDelayMs,
  classifyAttempt,
  nextAttemptAt,
  parseRetryAfter,
  type RetryPolicy,
} from '../../control-plane/src/callbacks/retry-policy';

const S = 1000;
const H = 3600 * S;
const T0 = new Date('2025-03-01T12:00:00Z');
const at = (offsetMs: number) => new Date(T0.getTime() + offsetMs);
const noJitter = () => 0;

/** Deterministic [0, 1) source (mulberry32), so jittered schedules are reproducible. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Delay chosen after `attempt` failed attempts, with the first attempt at T0 and this one ending at `now`. */
function delayAfter(attempt: number, options: { now?: Date; random?: () => number; retryAfterHeader?: string; policy?: RetryPolicy } = {}) {
  const now = options.now ?? T0;
  const next = nextAttemptAt({
    policy: options.policy ?? DEFAULT_RETRY_POLICY,
    attempt,
    firstAttemptAt: T0,
    now,
    random: options.random ?? noJitter,
    retryAfterHeader: options.retryAfterHeader,
  });
  return next === null ? null : next.getTime() - now.getTime();
}

describe('DEFAULT_RETRY_POLICY', () => {
  it('starts at 5 s, doubles up to 1 h, shortens by up to 20 % and gives up after 72 h', () => {
    expect(DEFAULT_RETRY_POLICY).to.deep.equal({ initialDelayMs: 5 * S, maxDelayMs: H, multiplier: 2, jitter: 0.2, maxAgeMs: 72 * H });
  });

  it('cannot be changed by a caller', () => {
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY)).to.equal(true);
  });
});

describe('classifyAttempt', () => {
  const cases: Array<[string, Parameters<typeof classifyAttempt>[0], 'success' | 'retry']> = [
    ['200', { status: 200 }, 'success'],
    ['202', { status: 202 }, 'success'],
    ['204', { status: 204 }, 'success'],
    ['299', { status: 299 }, 'success'],
    ['a redirect (301), since redirects are not followed', { status: 301 }, 'retry'],
    ['400', { status: 400 }, 'retry'],
    ['401 (a receiver rotating its own auth)', { status: 401 }, 'retry'],
    ['404 (a route missing during a deploy)', { status: 404 }, 'retry'],
    ['408', { status: 408 }, 'retry'],
    ['410', { status: 410 }, 'retry'],
    ['425', { status: 425 }, 'retry'],
    ['429', { status: 429 }, 'retry'],
    ['500', { status: 500 }, 'retry'],
    ['503', { status: 503 }, 'retry'],
    ['599', { status: 599 }, 'retry'],
    ['a network error', { error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }, 'retry'],
    ['a timeout', { error: new DOMException('The operation was aborted due to timeout', 'TimeoutError') }, 'retry'],
    ['a 2xx followed by a broken connection', { status: 200, error: new Error('socket hang up') }, 'success'],
  ];
  for (const [name, outcome, expected] of cases) {
    it(`treats ${name} as ${expected}`, () => {
      expect(classifyAttempt(outcome)).to.equal(expected);
    });
  }

  it('fails when given neither a status nor an error', () => {
    expect(() => classifyAttempt({})).to.throw(TypeError, /status or an error/);
  });
});

describe('parseRetryAfter', () => {
  const accepted: Array<[string, number]> = [
    ['0', 0],
    ['120', 120 * S],
    [' 30 ', 30 * S],
    ['Sat, 01 Mar 2025 12:01:30 GMT', 90 * S], // IMF-fixdate
    ['Saturday, 01-Mar-25 12:01:30 GMT', 90 * S], // obsolete RFC 850
    ['Sat Mar  1 12:01:30 2025', 90 * S], // obsolete asctime
    ['Fri, 28 Feb 2025 12:00:00 GMT', 0], // in the past
  ];
  for (const [value, ms] of accepted) {
    it(`reads ${JSON.stringify(value)} as ${ms} ms`, () => {
      expect(parseRetryAfter(value, T0)).to.equal(ms);
    });
  }

  const ignored = [
    '',
    '-5',
    '1.5',
    '1e3',
    '+10',
    'soon',
    '2025-03-01T12:01:30Z',
    'Sat, 01 Mar 2025 12:01:30 UTC',
    'Sat, 1 Mar 2025 12:01:30 GMT',
    'Sat, 31 Feb 2025 12:01:30 GMT',
    'Sat, 01 Mar 2025 24:00:00 GMT',
  ];
  for (const value of ignored) {
    it(`fails when the value is ${JSON.stringify(value)}, returning undefined`, () => {
      expect(parseRetryAfter(value, T0)).to.equal(undefined);
    });
  }

  it('returns undefined when there is no header', () => {
    expect(parseRetryAfter(undefined, T0)).to.equal(undefined);
  });

  it('keeps an absurdly large delay finite, so it is compared and not lost', () => {
    expect(parseRetryAfter('9'.repeat(400), T0)).to.equal(Number.MAX_SAFE_INTEGER);
  });
});

describe('nextAttemptAt', () => {
  it('doubles the delay from 5 s and holds it at 1 h', () => {
    const delays = Array.from({ length: 13 }, (_, i) => delayAfter(i + 1));
    expect(delays).to.deep.equal([5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600].map((s) => s * S));
  });

  it('holds the cap for very high attempt numbers without overflowing', () => {
    expect(backoffDelayMs(DEFAULT_RETRY_POLICY, 5000)).to.equal(H);
    expect(delayAfter(5000)).to.equal(H);
  });

  it('shortens each delay by the jitter fraction of the random value', () => {
    expect(delayAfter(1, { random: () => 0.5 })).to.equal(4.5 * S);
    expect(delayAfter(11, { random: () => 0.5 })).to.equal(0.9 * H);
    expect(delayAfter(11, { random: () => 0.999999 })).to.equal(Math.round(H * (1 - 0.2 * 0.999999)));
  });

  it('keeps every jittered delay within [backoff × (1 − jitter), backoff], the cap included', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const backoff = backoffDelayMs(DEFAULT_RETRY_POLICY, attempt);
        const delay = delayAfter(attempt, { random: () => r })!;
        expect(delay).to.be.at.least(Math.round(backoff * (1 - DEFAULT_RETRY_POLICY.jitter)));
        expect(delay).to.be.at.most(backoff);
        expect(delay).to.be.at.most(DEFAULT_RETRY_POLICY.maxDelayMs);
      }),
    );
  });

  it('keeps the delay within its bounds when the random source misbehaves', () => {
    expect(delayAfter(1, { random: () => 7 })).to.equal(4 * S);
    expect(delayAfter(1, { random: () => -1 })).to.equal(5 * S);
  });

  it('waits as long as Retry-After asks in seconds when that is longer than the backoff', () => {
    expect(delayAfter(1, { retryAfterHeader: '120' })).to.equal(120 * S);
  });

  it('waits as long as Retry-After asks as an HTTP-date', () => {
    expect(delayAfter(1, { retryAfterHeader: 'Sat, 01 Mar 2025 12:01:30 GMT' })).to.equal(90 * S);
  });

  it('keeps the backoff when Retry-After asks for less', () => {
    expect(delayAfter(5, { retryAfterHeader: '1' })).to.equal(80 * S);
    expect(delayAfter(5, { retryAfterHeader: 'Fri, 28 Feb 2025 12:00:00 GMT' })).to.equal(80 * S);
  });

  it('honours a Retry-After beyond the 1 h cap while inside the give-up window', () => {
    expect(delayAfter(3, { retryAfterHeader: String(6 * 3600) })).to.equal(6 * H);
  });

  for (const header of ['soon', '-5', '1.5', '2025-03-01T13:00:00Z']) {
    it(`fails when Retry-After is ${JSON.stringify(header)}, ignoring it in favour of the backoff`, () => {
      expect(delayAfter(2, { retryAfterHeader: header })).to.equal(10 * S);
    });
  }

  describe('at the give-up boundary', () => {
    const deadlineMs = DEFAULT_RETRY_POLICY.maxAgeMs;

    it('schedules an attempt that lands exactly at firstAttemptAt + maxAgeMs', () => {
      const next = nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 20, firstAttemptAt: T0, now: at(deadlineMs - H), random: noJitter });
      expect(next).to.deep.equal(at(deadlineMs));
    });

    it('gives up when the next attempt would land 1 ms after the window', () => {
      const next = nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 20, firstAttemptAt: T0, now: at(deadlineMs - H + 1), random: noJitter });
      expect(next).to.equal(null);
    });

    it('gives up when Retry-After points past the window, even though the backoff would fit', () => {
      const now = at(deadlineMs - 2 * H);
      expect(nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 20, firstAttemptAt: T0, now, random: noJitter })).to.deep.equal(at(deadlineMs - H));
      const next = nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 20, firstAttemptAt: T0, now, random: noJitter, retryAfterHeader: String(3 * 3600) });
      expect(next).to.equal(null);
    });

    it('gives up on an absurdly large Retry-After', () => {
      expect(delayAfter(1, { retryAfterHeader: '9'.repeat(400) })).to.equal(null);
    });
  });

  const invalidPolicies: Array<[string, Partial<RetryPolicy>, RegExp]> = [
    ['initialDelayMs is 0', { initialDelayMs: 0 }, /initialDelayMs 0/],
    ['maxDelayMs is below initialDelayMs', { maxDelayMs: 1000 }, /maxDelayMs 1000.*5000/],
    ['multiplier is below 1', { multiplier: 0.5 }, /multiplier 0.5/],
    ['jitter is above 1', { jitter: 1.5 }, /jitter 1.5/],
    ['jitter is NaN', { jitter: Number.NaN }, /jitter NaN/],
    ['maxAgeMs is negative', { maxAgeMs: -1 }, /maxAgeMs -1/],
  ];
  for (const [reason, override, message] of invalidPolicies) {
    it(`fails when ${reason}`, () => {
      expect(() => delayAfter(1, { policy: { ...DEFAULT_RETRY_POLICY, ...override } })).to.throw(RangeError, message);
    });
  }

  it('fails when attempt is not a positive whole number', () => {
    expect(() => delayAfter(0)).to.throw(RangeError, /attempt 0/);
    expect(() => delayAfter(1.5)).to.throw(RangeError, /attempt 1.5/);
  });
});

describe('a callback that always fails under the default policy', () => {
  const policy = DEFAULT_RETRY_POLICY;

  /**
   * Attempts that fit in the window when every delay is `factor` × its backoff: the delays below
   * the cap form a geometric series, the rest are all `factor` × maxDelayMs.
   */
  function attemptsFromFormula(factor: number): number {
    const uncapped = Math.ceil(Math.log(policy.maxDelayMs / policy.initialDelayMs) / Math.log(policy.multiplier));
    const uncappedTotalMs = (factor * policy.initialDelayMs * (policy.multiplier ** uncapped - 1)) / (policy.multiplier - 1);
    const capped = Math.floor((policy.maxAgeMs - uncappedTotalMs) / (factor * policy.maxDelayMs));
    return 1 + uncapped + capped;
  }

  function simulate(random: () => number): Date[] {
    const attempts = [T0];
    for (;;) {
      const next = nextAttemptAt({ policy, attempt: attempts.length, firstAttemptAt: T0, now: attempts.at(-1)!, random });
      if (next === null) return attempts;
      attempts.push(next);
    }
  }

  it('is attempted as many times as the backoff formula allows in 72 h', () => {
    const attempts = simulate(noJitter);
    // 5 s, 10 s … 2560 s (10 delays, 5115 s), then 1 h each: 1 + 10 + floor((259200 − 5115) / 3600) = 81.
    expect(attempts).to.have.length(attemptsFromFormula(1));
    expect(attempts.at(-1)!.getTime() - T0.getTime()).to.be.at.most(policy.maxAgeMs);
    expect(attempts.at(-1)!.getTime() + policy.maxDelayMs - T0.getTime()).to.be.greaterThan(policy.maxAgeMs);
  });

  it('with jitter, is attempted between the unjittered count and the count with every delay fully shortened', () => {
    const attempts = simulate(seededRandom(42));
    expect(attempts.length).to.be.within(attemptsFromFormula(1), attemptsFromFormula(1 - policy.jitter));
    expect(attempts.at(-1)!.getTime() - T0.getTime()).to.be.at.most(policy.maxAgeMs);
  });

  it('runs under fake timers to the same schedule as the date arithmetic', () => {
    const clock = FakeTimers.install({ now: T0, toFake: ['setTimeout', 'Date'] });
    try {
      const attemptTimes: Date[] = [];
      const random = seededRandom(7);
      const attempt = () => {
        attemptTimes.push(new Date());
        const next = nextAttemptAt({ policy, attempt: attemptTimes.length, firstAttemptAt: T0, now: new Date(), random });
        if (next) setTimeout(attempt, next.getTime() - Date.now());
      };
      attempt();
      clock.runAll();
      expect(attemptTimes.map((d) => d.getTime())).to.deep.equal(simulate(seededRandom(7)).map((d) => d.getTime()));
      expect(Date.now() - T0.getTime()).to.be.at.most(policy.maxAgeMs);
    } finally {
      clock.uninstall();
    }
  });
});
