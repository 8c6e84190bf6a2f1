import express, { RequestHandler } from 'express';
import { DomainError } from '../errors';
import { JSONAPI_MEDIA_TYPE } from './jsonapi';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

function hasBody(req: express.Request): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * Management API bodies are JSON:API (`application/vnd.api+json`, no media type parameters
 * except charset=utf-8) or plain `application/json` for convenience; anything else is 415.
 */
export function requireJsonBody(opts: { extraTypes?: Record<string, string[]> } = {}): RequestHandler {
  return (req, _res, next) => {
    if (!BODY_METHODS.has(req.method) || !hasBody(req)) return next();
    const allowed = new Set([JSONAPI_MEDIA_TYPE, 'application/json', ...(opts.extraTypes?.[req.path] ?? [])]);
    const raw = req.headers['content-type'] ?? '';
    const [type, ...params] = raw.split(';').map((s) => s.trim().toLowerCase());
    const paramsOk = params.every((p) => p === '' || p === 'charset=utf-8');
    if (!type || !allowed.has(type) || !paramsOk) {
      return next(
        new DomainError('unsupported_media_type', {
          code: 'CONTENT_TYPE_UNSUPPORTED',
          title: 'Unsupported media type',
          detail: `Content-Type must be ${[...allowed].join(' or ')}, got ${JSON.stringify(raw || '(none)')}`,
          meta: { header: 'Content-Type' },
        }),
      );
    }
    next();
  };
}

export const jsonBodyParser = (limit: string): RequestHandler =>
  express.json({ type: [JSONAPI_MEDIA_TYPE, 'application/json'], limit, strict: true });

/** Wraps an async handler so rejected promises reach the error middleware (Express 5 does this too; kept explicit for sync throws in helpers). */
export const send = (res: express.Response, status: number, body: unknown): void => {
  res.status(status).type(JSONAPI_MEDIA_TYPE).send(JSON.stringify(body));
};
