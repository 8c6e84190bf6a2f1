import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { DomainError, ErrorCategory, ErrorItem } from '../errors';
import { redactUrl } from '../shared/logger';
import { writeJsonApi } from './jsonapi';

/** The one place where error categories become HTTP statuses. */
const STATUS: Record<ErrorCategory, number> = {
  invalid_input: 400,
  not_authenticated: 401,
  forbidden: 403,
  not_found: 404,
  not_acceptable: 406,
  conflict: 409,
  gone: 410,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  rate_limited: 429,
};

export function errorBody(status: number, items: ErrorItem[]) {
  return {
    errors: items.map((i) => ({
      status: String(status),
      code: i.code,
      title: i.title,
      detail: i.detail,
      ...(i.pointer !== undefined || i.parameter !== undefined
        ? { source: i.pointer !== undefined ? { pointer: i.pointer } : { parameter: i.parameter } }
        : {}),
      ...(i.meta ? { meta: i.meta } : {}),
    })),
  };
}

/** Translates errors thrown by body parsers (raw-body / body-parser) into domain errors. */
function fromParserError(err: any): DomainError | undefined {
  switch (err?.type) {
    case 'entity.parse.failed':
      return new DomainError('invalid_input', { code: 'JSON_INVALID', title: 'Invalid JSON', detail: `The body is not valid JSON: ${String(err.message).slice(0, 200)}`, pointer: '' });
    case 'entity.too.large':
      return new DomainError('payload_too_large', { code: 'BODY_TOO_LARGE', title: 'Payload too large', detail: `The body is larger than the limit of ${err.limit} bytes` });
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new DomainError('unsupported_media_type', { code: 'CHARSET_UNSUPPORTED', title: 'Unsupported media type', detail: 'Only UTF-8 JSON bodies are accepted' });
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new DomainError('invalid_input', { code: 'BODY_INVALID', title: 'Invalid body', detail: 'The request body could not be read' });
  }
  if (err instanceof URIError) {
    return new DomainError('invalid_input', { code: 'PATH_INVALID', title: 'Invalid path', detail: 'The request path is not valid percent-encoded UTF-8' });
  }
  // Other client errors from the body parsers carry no `type` (e.g. a Content-Encoding: gzip body
  // that does not inflate); they are the client's fault, never a 500.
  if (err?.expose === true && Number.isInteger(err.status) && err.status >= 400 && err.status < 500) {
    return new DomainError('invalid_input', { code: 'BODY_INVALID', title: 'Invalid body', detail: `The request body could not be read: ${String(err.message).slice(0, 200)}` });
  }
  return undefined;
}

/**
 * Answers `err` on a bare node:http response (the send API's fast path and Express alike): a
 * DomainError or a body-parser error with its status, anything else logged and a 500.
 */
export function writeError(res: ServerResponse, err: unknown, logger: Logger, req: IncomingMessage): void {
  const domain = err instanceof DomainError ? err : fromParserError(err);
  if (res.headersSent) {
    req.socket.destroy();
    return;
  }
  if (domain) {
    const status = STATUS[domain.category];
    if (domain.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(domain.retryAfterSeconds))));
    writeJsonApi(res, status, JSON.stringify(errorBody(status, domain.items)));
    return;
  }
  logger.error({ err, method: req.method, url: redactUrl((req as { originalUrl?: string }).originalUrl ?? req.url ?? '') }, 'unhandled error');
  writeJsonApi(res, 500, JSON.stringify(errorBody(500, [{ code: 'INTERNAL_ERROR', title: 'Internal server error', detail: 'An unexpected error occurred; it has been logged' }])));
}

export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => writeError(res, err, logger, req);
}

export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new DomainError('not_found', { code: 'ROUTE_NOT_FOUND', title: 'Not found', detail: `No route for ${req.method} ${req.path}` }));
};
