import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { SsrfGuard } from './ssrf-guard';

export interface PostResult {
  statusCode?: number;
  retryAfter?: string;
  /** Why no answer came (connection refused, timeout, SSRF refusal), cut to 250 characters. */
  error?: string;
  /** Not sent at all: no connection to the endpoint came free before the post's `sendBy`. */
  notSent?: true;
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
  resolve: (r: PostResult) => void;
}

interface Target {
  /** scheme://host:port, what the connection limit counts by. */
  endpoint: string;
  lib: typeof http | typeof https;
  options: http.RequestOptions;
  refused?: string;
}

/**
 * POSTs callback bodies: keep-alive connections per endpoint, the SSRF guard on every address
 * connected to (a lookup hook for names, a check here for literal IPs, which Node connects to
 * without a lookup), a timeout, and the answer's status read (its body is drained, never
 * interpreted). Runs in the callback thread (see CallbackPoster).
 *
 * At most `perEndpoint` requests to one endpoint are out at a time; the rest wait here, in order,
 * and the next one starts as soon as an answer comes, without a round trip through the main
 * thread. A post whose `sendBy` has passed when its turn comes is not sent (the caller's lease on
 * it is running out, see CallbackWorker).
 */
export class HttpPoster {
  private readonly guard: SsrfGuard;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  /** Parsed callback URLs (a trunk has one; thousands of callbacks a second go to it). */
  private readonly targets = new Map<string, Target>();
  private readonly waiting = new Map<string, Job[]>();
  private readonly active = new Map<string, number>();

  constructor(private readonly opts: HttpPosterOptions) {
    this.guard = new SsrfGuard(opts.allowCidrs);
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: opts.perEndpoint, lookup: this.guard.lookup });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: opts.perEndpoint, lookup: this.guard.lookup });
  }

  /** Never rejects: a failure is a result with `error`. */
  post(url: string, body: string, headers: Record<string, string>, sendBy = Infinity): Promise<PostResult> {
    let target: Target;
    try {
      target = this.target(url);
    } catch (err) {
      return Promise.resolve(failure(err));
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(target.endpoint);
      const job = { target, body, headers, sendBy, resolve };
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
      void this.request(job.target, job.body, job.headers)
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
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private target(url: string): Target {
    let t = this.targets.get(url);
    if (t === undefined) {
      const u = new URL(url);
      const literal = u.hostname.replace(/^\[|\]$/g, '');
      const secure = u.protocol === 'https:';
      t = {
        endpoint: `${u.protocol}//${u.host}`,
        lib: secure ? https : http,
        options: { protocol: u.protocol, hostname: literal, port: u.port || undefined, path: u.pathname + u.search, agent: secure ? this.httpsAgent : this.httpAgent },
        refused: net.isIP(literal) ? this.guard.refuse(literal) : undefined,
      };
      if (this.targets.size >= 10_000) this.targets.clear();
      this.targets.set(url, t);
    }
    return t;
  }

  private request(t: Target, body: string, headers: Record<string, string>): Promise<PostResult> {
    return new Promise((resolve, reject) => {
      if (t.refused) return reject(new Error(`callback blocked: ${t.refused}`));
      const req = t.lib.request(
        {
          ...t.options,
          method: 'POST',
          headers: {
            'content-type': 'application/vnd.api+json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'sms-out-trunk-platform/callbacks',
            ...headers,
          },
          timeout: this.opts.timeoutMs,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, retryAfter: first(res.headers['retry-after']) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.opts.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

const failure = (err: unknown): PostResult => ({ error: String((err as Error)?.message ?? err).slice(0, 250) });
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
