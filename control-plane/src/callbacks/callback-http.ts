import { EventEmitter } from 'node:events';
import net from 'node:net';
import { Pool } from 'undici';
import { signCallback } from './signing';
import { SsrfGuard } from './ssrf-guard';

export interface PostResult {
  statusCode?: number;
  retryAfter?: string;
  /** Why no answer came (connection refused, timeout, SSRF refusal), cut to 250 characters. */
  error?: string;
  /** Not sent at all: no connection to the endpoint came free before the post's `sendBy`. */
  notSent?: true;
}

/**
 * What a POST is signed with when it is sent (Standard Webhooks, see signing.ts): its webhook-id
 * and the trunk's active secrets. Signing here, on the callback thread, keeps the HMAC off the
 * main thread; the timestamp is the moment the request starts.
 */
export interface Signing {
  id: string;
  secrets: string[];
}

export interface HttpPosterOptions {
  /** CALLBACK_ALLOW_CIDRS: private ranges callbacks may still go to. */
  allowCidrs: string[];
  /** Connections kept per endpoint (scheme://host:port). */
  perEndpoint: number;
  timeoutMs: number;
}

interface Job {
  target: Target;
  body: string;
  headers: Record<string, string>;
  sendBy: number;
  signing?: Signing;
  resolve: (r: PostResult) => void;
}

interface Target {
  /** scheme://host:port, what the connection limit counts by. */
  endpoint: string;
  /** Path and query. */
  path: string;
  refused?: string;
}

/**
 * POSTs callback bodies: keep-alive connections per endpoint, the SSRF guard on every address
 * connected to (a lookup hook for names, a check here for literal IPs, which Node connects to
 * without a lookup), a timeout, and the answer's status read (its body is drained, never
 * interpreted). Runs in the callback thread (see CallbackPoster).
 *
 * The HTTP client is undici (a Pool of `perEndpoint` connections per endpoint): it costs about a
 * third less CPU per request than node:http's client with an Agent, and at two callbacks per
 * message that CPU is taken from the send path on a small machine (docs/PERFORMANCE.md).
 *
 * At most `perEndpoint` requests to one endpoint are out at a time; the rest wait here, in order,
 * and the next one starts as soon as an answer comes, without a round trip through the main
 * thread. A post whose `sendBy` has passed when its turn comes is not sent (the caller's lease on
 * it is running out, see CallbackWorker).
 */
export class HttpPoster {
  private readonly guard: SsrfGuard;
  private readonly pools = new Map<string, Pool>();
  /** Parsed callback URLs (a trunk has one; thousands of callbacks a second go to it). */
  private readonly targets = new Map<string, Target>();
  private readonly waiting = new Map<string, Job[]>();
  private readonly active = new Map<string, number>();

  constructor(private readonly opts: HttpPosterOptions) {
    this.guard = new SsrfGuard(opts.allowCidrs);
  }

  /** Never rejects: a failure is a result with `error` (a secret that cannot sign included). */
  post(url: string, body: string, headers: Record<string, string>, sendBy = Infinity, signing?: Signing): Promise<PostResult> {
    let target: Target;
    try {
      target = this.target(url);
    } catch (err) {
      return Promise.resolve(failure(err));
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(target.endpoint);
      const job = { target, body, headers, sendBy, signing, resolve };
      if (queue) queue.push(job);
      else this.waiting.set(target.endpoint, [job]);
      this.next(target.endpoint);
    });
  }

  /** Starts the endpoint's waiting posts while fewer than `perEndpoint` are out. */
  private next(endpoint: string): void {
    const queue = this.waiting.get(endpoint);
    while (queue && queue.length > 0 && (this.active.get(endpoint) ?? 0) < this.opts.perEndpoint) {
      const job = queue.shift()!;
      if (Date.now() > job.sendBy) {
        job.resolve({ notSent: true });
        continue;
      }
      this.active.set(endpoint, (this.active.get(endpoint) ?? 0) + 1);
      void this.request(job.target, job.body, job.headers, job.signing)
        .catch(failure)
        .then((result) => {
          const n = (this.active.get(endpoint) ?? 1) - 1;
          if (n === 0) this.active.delete(endpoint);
          else this.active.set(endpoint, n);
          job.resolve(result);
          this.next(endpoint);
        });
    }
    if (queue && queue.length === 0) this.waiting.delete(endpoint);
  }

  close(): void {
    for (const pool of this.pools.values()) void pool.destroy().catch(() => undefined);
    this.pools.clear();
  }

  private pool(endpoint: string): Pool {
    let pool = this.pools.get(endpoint);
    if (pool === undefined) {
      const ms = this.opts.timeoutMs;
      pool = new Pool(endpoint, {
        connections: this.opts.perEndpoint,
        pipelining: 1,
        headersTimeout: ms,
        bodyTimeout: ms,
        connect: { lookup: this.guard.lookup, timeout: ms },
      });
      // Endpoints come and go with trunks; a pool idle long enough has closed its connections.
      if (this.pools.size >= 1_000) {
        for (const p of this.pools.values()) void p.close().catch(() => undefined);
        this.pools.clear();
      }
      this.pools.set(endpoint, pool);
    }
    return pool;
  }

  private target(url: string): Target {
    let t = this.targets.get(url);
    if (t === undefined) {
      const u = new URL(url);
      const literal = u.hostname.replace(/^\[|\]$/g, '');
      t = {
        endpoint: `${u.protocol}//${u.host}`,
        path: u.pathname + u.search,
        refused: net.isIP(literal) ? this.guard.refuse(literal) : undefined,
      };
      if (this.targets.size >= 10_000) this.targets.clear();
      this.targets.set(url, t);
    }
    return t;
  }

  private async request(t: Target, body: string, headers: Record<string, string>, signing?: Signing): Promise<PostResult> {
    if (t.refused) throw new Error(`callback blocked: ${t.refused}`);
    if (signing) headers = { ...headers, ...signCallback({ id: signing.id, timestamp: new Date(), body, secrets: signing.secrets }) };
    // undici's own timeouts run on a clock that ticks once a second; the lease arithmetic in
    // CallbackWorker needs the timeout to hold to the millisecond, so a timer of ours aborts.
    const signal = new EventEmitter();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signal.emit('abort');
    }, this.opts.timeoutMs);
    try {
      const res = await this.pool(t.endpoint).request({
        path: t.path,
        method: 'POST',
        headers: { 'content-type': 'application/vnd.api+json', 'user-agent': 'sms-out-trunk-platform/callbacks', ...headers },
        body,
        signal,
      });
      await res.body.dump();
      return { statusCode: res.statusCode, retryAfter: first(res.headers['retry-after']) };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (timedOut || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') throw new Error(`timed out after ${this.opts.timeoutMs} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

const failure = (err: unknown): PostResult => ({ error: String((err as Error)?.message ?? err).slice(0, 250) });
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
