import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { SsrfGuard } from './ssrf-guard';

export interface PostResult {
  statusCode?: number;
  retryAfter?: string;
  /** Why no answer came (connection refused, timeout, SSRF refusal), cut to 250 characters. */
  error?: string;
}

export interface HttpPosterOptions {
  /** CALLBACK_ALLOW_CIDRS: private ranges callbacks may still go to. */
  allowCidrs: string[];
  /** Connections kept per endpoint (scheme://host:port). */
  perEndpoint: number;
  timeoutMs: number;
}

interface Target {
  lib: typeof http | typeof https;
  options: http.RequestOptions;
  refused?: string;
}

/**
 * POSTs callback bodies: keep-alive connections per endpoint, the SSRF guard on every address
 * connected to (a lookup hook for names, a check here for literal IPs, which Node connects to
 * without a lookup), a timeout, and the answer's status read (its body is drained, never
 * interpreted). Runs in the callback thread (see CallbackPoster).
 */
export class HttpPoster {
  private readonly guard: SsrfGuard;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  /** Parsed callback URLs (a trunk has one; thousands of callbacks a second go to it). */
  private readonly targets = new Map<string, Target>();

  constructor(private readonly opts: HttpPosterOptions) {
    this.guard = new SsrfGuard(opts.allowCidrs);
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: opts.perEndpoint, lookup: this.guard.lookup });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: opts.perEndpoint, lookup: this.guard.lookup });
  }

  /** Never rejects: a failure is a result with `error`. */
  post(url: string, body: string, headers: Record<string, string>): Promise<PostResult> {
    return this.request(url, body, headers).catch((err: unknown) => ({ error: String((err as Error)?.message ?? err).slice(0, 250) }));
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
        lib: secure ? https : http,
        options: { protocol: u.protocol, hostname: literal, port: u.port || undefined, path: u.pathname + u.search, agent: secure ? this.httpsAgent : this.httpAgent },
        refused: net.isIP(literal) ? this.guard.refuse(literal) : undefined,
      };
      if (this.targets.size >= 10_000) this.targets.clear();
      this.targets.set(url, t);
    }
    return t;
  }

  private request(url: string, body: string, headers: Record<string, string>): Promise<PostResult> {
    return new Promise((resolve, reject) => {
      const t = this.target(url);
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

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
