/**
 * Business errors. They know nothing of HTTP: `http/error-middleware.ts` is the one place that
 * maps their category to a status code. Every error carries a stable machine-readable `code`
 * and, when it is about a field of the request document, a JSON pointer to it.
 */
export type ErrorCategory =
  | 'invalid_input'
  | 'unprocessable'
  | 'not_found'
  | 'conflict'
  | 'precondition_failed'
  | 'not_authenticated'
  | 'forbidden'
  | 'unsupported_media_type'
  | 'not_acceptable'
  | 'payload_too_large'
  | 'rate_limited'
  | 'gone';

export interface ErrorItem {
  code: string;
  title: string;
  detail: string;
  pointer?: string;
  parameter?: string;
  meta?: Record<string, unknown>;
}

export class DomainError extends Error {
  readonly category: ErrorCategory;
  readonly items: ErrorItem[];
  /** Seconds after which a rate-limited client may retry. */
  retryAfterSeconds?: number;

  constructor(category: ErrorCategory, items: ErrorItem[] | ErrorItem) {
    const list = Array.isArray(items) ? items : [items];
    super(list.map((i) => `${i.code}: ${i.detail}`).join('; '));
    this.name = 'DomainError';
    this.category = category;
    this.items = list;
  }

  get code(): string {
    return this.items[0]?.code ?? 'ERROR';
  }
}

export const invalidInput = (code: string, detail: string, pointer?: string, extra: Partial<ErrorItem> = {}) =>
  new DomainError('invalid_input', { code, title: 'Invalid input', detail, pointer, ...extra });

export const unprocessable = (code: string, detail: string, pointer?: string) =>
  new DomainError('unprocessable', { code, title: 'Unprocessable request', detail, pointer });

export const notFound = (code: string, detail: string, extra: Partial<ErrorItem> = {}) =>
  new DomainError('not_found', { code, title: 'Not found', detail, ...extra });

export const conflict = (code: string, detail: string, pointer?: string, meta?: Record<string, unknown>) =>
  new DomainError('conflict', { code, title: 'Conflict', detail, pointer, meta });

export const preconditionFailed = (code: string, detail: string) =>
  new DomainError('precondition_failed', { code, title: 'Precondition failed', detail });

export const notAuthenticated = (code: string, detail: string) =>
  new DomainError('not_authenticated', { code, title: 'Unauthorized', detail });

export const forbidden = (code: string, detail: string, pointer?: string) =>
  new DomainError('forbidden', { code, title: 'Forbidden', detail, pointer });

export const gone = (code: string, detail: string) => new DomainError('gone', { code, title: 'Gone', detail });

export const rateLimited = (code: string, detail: string, retryAfterSeconds: number) => {
  const e = new DomainError('rate_limited', { code, title: 'Too many requests', detail });
  e.retryAfterSeconds = retryAfterSeconds;
  return e;
};

/** Collects several field problems and throws them together, so a client fixes everything at once. */
export class ErrorCollector {
  readonly items: ErrorItem[] = [];

  add(code: string, detail: string, pointer?: string): void {
    this.items.push({ code, title: 'Invalid input', detail, pointer });
  }

  throwIfAny(category: ErrorCategory = 'invalid_input'): void {
    if (this.items.length === 0) return;
    if (category === 'unprocessable') for (const i of this.items) i.title = 'Unprocessable request';
    throw new DomainError(category, this.items);
  }
}
