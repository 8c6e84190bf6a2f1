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
    const reason = (cause as { cause?: { code?: string; message?: string } })?.cause;
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
    let res: Response;
    try {
      // A streamed body (upload progress) needs half-duplex; Node's fetch refuses it otherwise.
      const streamed = body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body);
      res = await fetch(url, { method, headers, body, ...(streamed ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (err) {
      throw new UnreachableError(this.baseUrl, err);
    }
    const text = await res.text();
    let doc: any;
    try {
      doc = text ? JSON.parse(text) : undefined;
    } catch {
      doc = undefined;
    }
    if (!res.ok) {
      const errors = Array.isArray(doc?.errors) ? (doc.errors as ApiErrorObject[]) : [];
      throw new ApiError(res.status, errors, `${method} ${url.pathname}`, res.statusText);
    }
    return doc as T;
  }
}
