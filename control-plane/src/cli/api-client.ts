/** One error object of a JSON:API error document, as the control plane sends it. */
export interface ApiErrorObject {
  status?: string;
  code?: string;
  title?: string;
  detail?: string;
  source?: { pointer?: string; parameter?: string };
  meta?: Record<string, unknown>;
}

/** Lines shown after the summary line before the rest are counted instead of listed. */
const MAX_ERROR_LINES = 20;

/** A non-2xx answer. `lines()` is what the CLI prints: the first line alone says what went wrong. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: ApiErrorObject[],
    readonly request: string,
    readonly statusText = '',
  ) {
    super(errors.length ? `${status} ${formatErrorObject(errors[0]!)}` : `${status} ${statusText} from ${request}`.replace(/\s+/g, ' '));
    this.name = 'ApiError';
  }

  lines(): string[] {
    if (this.errors.length <= 1) return [this.message];
    const rest = this.errors.slice(1);
    const shown = rest.slice(0, MAX_ERROR_LINES).map((e) => `  ${formatErrorObject(e)}`);
    if (rest.length > MAX_ERROR_LINES) shown.push(`  … and ${rest.length - MAX_ERROR_LINES} more`);
    return [`${this.message} (+${rest.length} more)`, ...shown];
  }
}

/** The server could not be reached at all (refused, DNS, TLS, reset). */
export class UnreachableError extends Error {
  constructor(baseUrl: string, cause: unknown) {
    // node:http reports the socket error itself; fetch wrapped it in `cause`.
    const c = cause as { code?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
    const reason = c?.cause ?? c;
    super(`could not reach ${redactUserInfo(baseUrl)} (${reason?.code ?? reason?.message ?? String(cause)}); check TRUNKCTL_URL and that the control plane is running`);
    this.name = 'UnreachableError';
  }
}

export function formatErrorObject(e: ApiErrorObject): string {
  const row = typeof e.meta?.row === 'number' ? `row ${e.meta.row}: ` : '';
  const where = e.source?.pointer ? ` (${e.source.pointer})` : e.source?.parameter ? ` (parameter ${e.source.parameter})` : '';
  return `${row}${e.code ?? 'ERROR'} ${e.detail ?? e.title ?? ''}`.trim() + where;
}

function redactUserInfo(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** Serialised as a JSON:API document. */
  json?: unknown;
  /** A prepared body (file upload); `contentType` says what it is. */
  body?: Buffer | AsyncIterable<Uint8Array>;
  contentType?: string;
}

const JSONAPI = 'application/vnd.api+json';

/** A thin client for the management API: bearer auth, JSON:API in and out, errors as exceptions. */
export class ApiClient {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
  ) {
    // A trailing slash would double up with the absolute paths below; a path prefix (behind a proxy) is kept.
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  get<T = any>(path: string, query?: Query): Promise<T> {
    return this.request('GET', path, { query });
  }

  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const body = opts.json !== undefined ? JSON.stringify(opts.json) : opts.body;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: JSONAPI };
    if (body !== undefined) headers['content-type'] = opts.json !== undefined ? JSONAPI : (opts.contentType ?? JSONAPI);
    let res: RawResponse;
    try {
      res = await send(url, method, headers, body);
    } catch (err) {
      throw new UnreachableError(this.baseUrl, err);
    }
    const text = res.text;
    let doc: any;
    try {
      doc = text ? JSON.parse(text) : undefined;
    } catch {
      doc = undefined;
    }
    if (res.status < 200 || res.status > 299) {
      const errors = Array.isArray(doc?.errors) ? (doc.errors as ApiErrorObject[]) : [];
      throw new ApiError(res.status, errors, `${method} ${url.pathname}`, res.statusText);
    }
    return doc as T;
  }
}

interface RawResponse {
  status: number;
  statusText: string;
  text: string;
}

/** Longest wait for an answer (as fetch's default headers timeout) before the server counts as unreachable. */
const RESPONSE_TIMEOUT_MS = 300_000;

/**
 * One HTTP exchange over node:http(s) rather than fetch: fetch loads undici (~50 ms) and its idle
 * keep-alive socket held the process open ~170 ms after the last answer. That was most of a
 * `trunkctl reconcile` run, and a stack's deploy starts one per trunk and set. The global agent
 * keeps the connection for the next request of the same run and does not hold the process open.
 */
function send(url: URL, method: string, headers: Record<string, string>, body: string | Buffer | AsyncIterable<Uint8Array> | undefined): Promise<RawResponse> {
  // Loaded on first use: TLS costs start-up time that a plain-http run never needs.
  const transport: typeof import('node:http') = url.protocol === 'https:' ? require('node:https') : require('node:http');
  return new Promise<RawResponse>((resolve, reject) => {
    const req = transport.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.setTimeout(RESPONSE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no response within ${RESPONSE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    // A streamed body (upload progress): chunked, each chunk written as the socket takes it.
    (async () => {
      for await (const chunk of body) {
        if (!req.write(chunk)) await new Promise<void>((r) => req.once('drain', () => r()));
      }
      req.end();
    })().catch((err) => req.destroy(err));
  });
}
