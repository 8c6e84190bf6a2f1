import { isUtf8 } from 'node:buffer';
import express, { RequestHandler } from 'express';
import { DomainError } from '../errors';
import { JSONAPI_MEDIA_TYPE, writeJsonApi } from './jsonapi';

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

/** U+0000 spelled as a JSON escape: an odd number of backslashes before u0000 (the lookbehind keeps it linear). */
const NUL_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000/;

/**
 * Bodies must be valid UTF-8 without NUL: the decoder would otherwise turn bad bytes into U+FFFD
 * and store text the client never sent, and PostgreSQL cannot hold U+0000 in text at all (a 500
 * there, a silent difference between the two databases). Used as the body parsers' `verify`.
 */
export function assertCleanText(body: Buffer): void {
  if (!isUtf8(body)) {
    throw new DomainError('invalid_input', { code: 'BODY_NOT_UTF8', title: 'Invalid body', detail: 'The request body is not valid UTF-8' });
  }
  if (body.includes(0) || NUL_ESCAPE.test(body.toString('utf8'))) {
    throw new DomainError('invalid_input', { code: 'NUL_CHARACTER', title: 'Invalid body', detail: 'The request body holds a NUL character (U+0000), which no field accepts' });
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Whether any string or key holds half a surrogate pair (a `\ud800` escape): UTF-8 cannot hold it,
 * so both databases would store U+FFFD instead. Walks with an explicit stack, so depth is no risk.
 * (Not a JSON.parse reviver: body-parser strips the own properties of errors thrown while parsing.)
 */
function hasLoneSurrogate(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return true;
    } else if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, item] of Object.entries(v)) {
        if (LONE_SURROGATE.test(k)) return true;
        stack.push(item);
      }
    }
  }
  return false;
}

export const jsonBodyParser = (limit: string): RequestHandler => {
  const parse = express.json({ type: [JSONAPI_MEDIA_TYPE, 'application/json'], limit, strict: true, verify: (_req, _res, buf) => assertCleanText(buf) });
  return (req, res, next) =>
    parse(req, res, (err?: unknown) => {
      if (err) return next(err);
      if (hasLoneSurrogate(req.body)) {
        return next(new DomainError('invalid_input', { code: 'BODY_NOT_UTF8', title: 'Invalid body', detail: 'The request body holds an unpaired UTF-16 surrogate escape, which is not Unicode text' }));
      }
      next();
    });
};

/** Answers a JSON:API document (Content-Type without parameters, as JSON:API asks; see writeJsonApi). */
export const send = (res: express.Response, status: number, body: unknown): void => {
  writeJsonApi(res, status, JSON.stringify(body));
};
