import crypto from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { Request, Response, Router } from 'express';
import type { Logger } from 'pino';
import { Knex } from 'knex';
import { isUniqueViolation } from '../db/database';
import { timeOrderedId } from '../db/ids';
import { singleFlight } from '../db/single-flight';
import type { Batcher } from '../db/transaction-batcher';
import { DomainError, notAuthenticated, rateLimited } from '../errors';
import { writeError } from '../http/error-middleware';
import { JSONAPI_MEDIA_TYPE, writeJsonApi } from '../http/jsonapi';
import { redactUrl } from '../shared/logger';
import type { CredentialService } from '../credentials/credential-service';
import type { TrunkAccess, TrunkPolicy } from '../trunks/trunk-access';
import type { BruteForceGuard } from '../auth/brute-force-guard';
import type { Metrics } from '../shared/metrics';
import { parseBasicAuth } from './basic-auth';
import type { ClientIpResolver } from './client-ip';
import type { AcceptItem, NewMessage } from './message-store';
import type { MessageQueries } from './message-queries';
import type { RateLimiter } from './rate-limiter';
import { parseSubmission } from './submission';

export interface SendDeps {
  guard: BruteForceGuard;
  metrics: Metrics;
  knex: Knex;
  credentials: CredentialService;
  access: TrunkAccess;
  clientIp: ClientIpResolver;
  rateLimiter: RateLimiter;
  accept: Batcher<AcceptItem, unknown>;
  queries: MessageQueries;
  idempotencyWindowMs: number;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

const sendError = (status: number, code: string, title: string, detail: string, pointer?: string) =>
  new DomainError(status === 403 ? 'forbidden' : status === 415 ? 'unsupported_media_type' : status === 422 ? 'unprocessable' : 'invalid_input', {
    code,
    title,
    detail,
    pointer,
  });

type SendType = 'outbound_messages' | 'bulk_outbound_messages';
/** The send API's POST paths; it logs its own requests (see handle), so the access log skips them. */
export const SEND_PATHS: ReadonlyMap<string, SendType> = new Map<string, SendType>([
  ['/outbound_messages', 'outbound_messages'],
  ['/bulk_outbound_messages', 'bulk_outbound_messages'],
]);

export interface SendApi {
  /**
   * The send endpoints straight off node:http, ahead of Express: true when it took the request
   * (`POST /outbound_messages` or `/bulk_outbound_messages`, no query string, no Content-Encoding).
   * At thousands of messages a second Express's middleware stack, router and res.send cost more CPU
   * than the rest of the request; the checks and answers are the same either way.
   */
  serve(req: IncomingMessage, res: ServerResponse): boolean;
  /** The same endpoints for everything serve() leaves to Express, and GET /outbound_messages/{id}. */
  router: Router;
}

/**
 * The DIDWW-compatible Outbound SMS API. Checks run in DIDWW's order, each with its own error:
 * client IP and credentials (401), blocked trunk (403), content type (415), document (400),
 * source not allowed (422), rate limit (429). A rejected request stores nothing.
 */
export function sendApi(deps: SendDeps, logger: Logger): SendApi {
  const lookupCredentials = singleFlight((username: string) => username, (username: string) => deps.credentials.lookup(username));
  const policyOf = singleFlight((trunkId: string) => trunkId, (trunkId: string) => deps.access.policy(trunkId));
  const sourceAllowed = singleFlight(
    (policy: TrunkPolicy, source: string) => `${policy.trunkId}\0${policy.version}\0${source}`,
    (policy: TrunkPolicy, source: string) => deps.access.isSourceAllowed(policy, source),
  );
  const acceptedRequests = deps.metrics.submissions.labels('accepted', '');
  const acceptedByTrunk = new Map<string, { inc(n: number): void }>();

  /** The trunk whose credentials the request carries, checked against its client IP allow-list; throws 401 (or 429 after repeated failures). */
  const authenticate = async (req: IncomingMessage, res: ServerResponse): Promise<TrunkPolicy> => {
    res.setHeader('WWW-Authenticate', 'Basic realm="sms-out", charset="UTF-8"');
    const ip = deps.clientIp.resolve(req);
    const basic = parseBasicAuth(req.headers.authorization);
    await deps.guard.assertAllowed(ip, basic?.username);
    const fail = async (code: string, detail: string) => {
      await deps.guard.recordFailure(ip, basic?.username);
      return notAuthenticated(code, detail);
    };
    if (!basic) throw await fail('UNAUTHORIZED', 'Send the trunk credentials with HTTP Basic authentication');
    // Generated usernames are printable; one with control characters matches no trunk (and PostgreSQL refuses a NUL in a query).
    if (/[\u0000-\u001f\u007f]/.test(basic.username)) throw await fail('UNAUTHORIZED', 'Invalid username or password');
    const entry = await lookupCredentials(basic.username);
    const policy = entry ? await policyOf(entry.trunkId) : null;
    if (!entry || !policy) throw await fail('UNAUTHORIZED', 'Invalid username or password');
    if (!deps.access.isIpAllowed(policy, ip)) throw await fail('IP_NOT_ALLOWED', "This client IP address is not in the trunk's allowed IP addresses");
    if (!deps.credentials.passwordMatches(entry, basic.password)) throw await fail('UNAUTHORIZED', 'Invalid username or password');
    res.removeHeader('WWW-Authenticate');
    return policy;
  };

  // Reads the body as bytes, inflating a Content-Encoding, refusing more than 512 KiB (body-parser's errors, mapped in writeError).
  const raw = express.raw({ type: () => true, limit: '512kb' });
  const readBody = (req: IncomingMessage, res: ServerResponse) =>
    new Promise<Buffer>((resolve, reject) => raw(req as Request, res as Response, (err?: unknown) => (err ? reject(err) : resolve(((req as Request).body as Buffer | undefined) ?? Buffer.alloc(0)))));

  const submit = async (type: SendType, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const policy = await authenticate(req, res);
    if (policy.blocked) throw sendError(403, 'TRUNK_BLOCKED', 'Forbidden', 'This SMS trunk is blocked');
    const contentType = req.headers['content-type'];
    if ((contentType ?? '').trim().toLowerCase() !== JSONAPI_MEDIA_TYPE) {
      throw sendError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported Media Type', `Content-Type must be exactly ${JSONAPI_MEDIA_TYPE} (no parameters), got ${JSON.stringify(contentType ?? '(none)')}`);
    }
    const rawBody = await readBody(req, res);
    // Decoding would turn bytes that are not UTF-8 into U+FFFD and send a text the client never wrote.
    if (!isUtf8(rawBody)) throw sendError(400, 'INVALID_JSON', 'Bad Request', 'The body is not valid UTF-8', '');
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody.toString('utf8'));
    } catch {
      throw sendError(400, 'INVALID_JSON', 'Bad Request', 'The body is not valid JSON', '');
    }
    const submission = parseSubmission(parsed, type);
    const header = req.headers['idempotency-key'];
    const key = Array.isArray(header) ? header.join(', ') : header;
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new DomainError('invalid_input', { code: 'INVALID_IDEMPOTENCY_KEY', title: 'Bad Request', detail: 'Idempotency-Key must be 1 to 255 visible ASCII characters', meta: { header: 'Idempotency-Key' } });
    }
    if (!(await sourceAllowed(policy, submission.source))) {
      throw sendError(422, 'SOURCE_NOT_ALLOWED', 'Unprocessable Entity', `source ${submission.source} is not allowed on this trunk (Source Address Settings)`, '/data/attributes/source');
    }

    let hash: string | undefined;
    if (key !== undefined) {
      hash = crypto.createHash('sha256').update(type).update('\0').update(rawBody).digest('hex');
      const replay = await deps.queries.idempotentResponse(policy.trunkId, key, hash, deps.idempotencyWindowMs);
      if (replay) return reply(res, replay.status, replay.body, true);
    }

    const retryAfter = deps.rateLimiter.take(policy.trunkId, policy.rateLimitPerSecond, submission.destinations.length);
    if (retryAfter > 0) throw rateLimited('RATE_LIMITED', `This trunk allows ${policy.rateLimitPerSecond} messages per second; retry after ${retryAfter} s`, retryAfter);

    const nowMs = Date.now();
    const now = new Date(nowMs).toISOString();
    const messages: NewMessage[] = submission.destinations.map((destination) => ({
      id: timeOrderedId(nowMs),
      trunk_id: policy.trunkId,
      source: submission.source,
      destination,
      content: submission.content,
      encoding: submission.analysis.encoding,
      segments: submission.analysis.segments,
      created_at: now,
    }));
    const body =
      type === 'outbound_messages'
        ? { data: { id: messages[0]!.id, type, attributes: { encoding: submission.analysis.encoding, segments: submission.analysis.segments } } }
        : {
            data: {
              id: timeOrderedId(nowMs),
              type,
              attributes: { message_ids: messages.map((m) => m.id), encoding: submission.analysis.encoding, segments: submission.analysis.segments },
              relationships: { outbound_messages: { data: messages.map((m) => ({ type: 'outbound_messages', id: m.id })) } },
            },
          };
    const text = JSON.stringify(body);
    try {
      await deps.accept.submit({ messages, idempotency: key && hash ? { trunkId: policy.trunkId, key, hash, status: 201, body: text } : undefined });
    } catch (err) {
      // Another request with the same key committed first (here or on another instance): answer as it did.
      if (key && hash && isUniqueViolation(err)) {
        const replay = await deps.queries.idempotentResponse(policy.trunkId, key, hash, deps.idempotencyWindowMs);
        if (replay) return reply(res, replay.status, replay.body, true);
      }
      throw err;
    }
    acceptedRequests.inc();
    let byTrunk = acceptedByTrunk.get(policy.trunkId);
    if (!byTrunk) acceptedByTrunk.set(policy.trunkId, (byTrunk = deps.metrics.accepted.labels(policy.trunkId)));
    byTrunk.inc(messages.length);
    reply(res, 201, text, false);
  };

  /**
   * Answers a send: the 201 (or replay), or the error — counted by its code and logged at info (a
   * 5xx at error); accepted sends are logged at debug only, as every accepted message is in the
   * message log already.
   */
  const handle = (type: SendType, req: IncomingMessage, res: ServerResponse): void => {
    const startedMs = Date.now();
    submit(type, req, res).then(
      () => {
        if (logger.isLevelEnabled('debug')) logCompleted('debug', req, res, startedMs);
      },
      (err: unknown) => {
        deps.metrics.submissions.inc({ result: 'rejected', reason: err instanceof DomainError ? err.code : 'INTERNAL_ERROR' });
        writeError(res, err, logger, req);
        logCompleted(res.statusCode >= 500 ? 'error' : 'info', req, res, startedMs);
      },
    );
  };
  const logCompleted = (level: 'debug' | 'info' | 'error', req: IncomingMessage, res: ServerResponse, startedMs: number) => {
    if (!logger.isLevelEnabled(level)) return;
    logger[level](
      { req: { method: req.method, url: redactUrl(req.url ?? ''), remoteAddress: req.socket.remoteAddress }, res: { statusCode: res.statusCode }, responseTime: Date.now() - startedMs },
      'request completed',
    );
  };

  const router = Router();
  for (const [path, type] of SEND_PATHS) router.post(path, (req, res) => handle(type, req, res));
  router.get('/outbound_messages/:id', async (req, res) => {
    const policy = await authenticate(req, res);
    const view = await deps.queries.messageView(req.params.id as string, policy.trunkId);
    reply(res, 200, JSON.stringify({ data: view }), false);
  });

  return {
    router,
    serve(req, res) {
      if (req.method !== 'POST' || req.headers['content-encoding'] !== undefined) return false;
      const type = SEND_PATHS.get(req.url ?? '');
      if (type === undefined) return false;
      handle(type, req, res);
      return true;
    },
  };
}

function reply(res: ServerResponse, status: number, body: string, replayed: boolean): void {
  if (replayed) res.setHeader('Idempotent-Replayed', 'true');
  writeJsonApi(res, status, body);
}
