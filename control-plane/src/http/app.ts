import type { RequestListener } from 'node:http';
import express, { Express, Request } from 'express';
import fs from 'node:fs';
import path from 'node:path';
import pinoHttp from 'pino-http';
import type { Logger } from 'pino';
import { adminTokenRoutes } from '../auth/admin-token-routes';
import type { AdminTokens } from '../auth/admin-tokens';
import { auditRoutes } from '../audit/audit-routes';
import type { AuditLog } from '../audit/audit-log';
import { credentialRoutes, shareRoutes } from '../credentials/credential-routes';
import type { CredentialService } from '../credentials/credential-service';
import type { Database } from '../db/database';
import { didSetRoutes } from '../did-sets/did-set-routes';
import type { DidSetService } from '../did-sets/did-set-service';
import { didRoutes } from '../dids/did-routes';
import type { DidService } from '../dids/did-service';
import { messageRoutes } from '../messages/message-routes';
import { createPanelApp, redirectRootToPanel } from '../panel/panel-app';
import { SEND_PATHS, SendDeps, sendApi } from '../sending/send-routes';
import { redactUrl } from '../shared/logger';
import { safeEqual } from '../shared/secrets';
import { trunkRoutes } from '../trunks/trunk-routes';
import type { TrunkService } from '../trunks/trunk-service';
import { invalidInput } from '../errors';
import { errorMiddleware, notFoundRoute } from './error-middleware';
import { send, jsonBodyParser, requireJsonBody } from './middleware';

export interface AppDeps {
  logger: Logger;
  db: Database;
  publicUrl?: string;
  adminTokens: AdminTokens;
  audit: AuditLog;
  dids: DidService;
  didSets: DidSetService;
  trunks: TrunkService;
  credentials: CredentialService;
  send: SendDeps;
  metricsToken?: string;
  callbackMaxAgeMs: () => number;
  onCallbackReplay: () => void;
  /** Set while shutting down so /readyz fails and load balancers drain this instance. */
  isDraining: () => boolean;
  /** Proxies whose X-Forwarded-Proto the web panel believes (its session cookie is Secure behind TLS). */
  trustedProxies: string[];
}

/** The package root, found the same way from sources (tsx) and from compiled dist/. */
function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  return dir;
}

export const OPENAPI_PATH = path.join(packageRoot(), 'control-plane/openapi.json');

/**
 * The platform's request listener: the send API's POST endpoints straight off node:http (see
 * SendApi.serve), everything else through Express (`.express`, which also routes every endpoint
 * the fast path serves).
 */
export function createApp(deps: AppDeps): RequestListener & { express: Express } {
  const app = express();
  const sendRoutes = sendApi(deps.send, deps.logger);
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  const baseUrl = (req: Request) => deps.publicUrl ?? `${req.protocol}://${req.get('host')}`;

  const accessLog = pinoHttp({
    logger: deps.logger,
    serializers: {
      req: (req: any) => ({ id: req.id, method: req.method, url: redactUrl(req.url), remoteAddress: req.remoteAddress }),
      res: (res: any) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
  });
  // The send API logs its own requests (sendApi): what it refuses or fails at, accepted sends at debug.
  app.use((req, res, next) => (req.method === 'POST' && SEND_PATHS.has(req.path) ? next() : accessLog(req, res, next)));

  // A NUL in a path id or query parameter matches nothing, and PostgreSQL refuses it outright (a 500).
  app.use((req, _res, next) => {
    next(req.url.includes('%00') ? invalidInput('PATH_INVALID', 'The URL holds a NUL character (%00), which no id or parameter accepts') : undefined);
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    if (deps.isDraining()) return void res.status(503).json({ status: 'draining' });
    try {
      await deps.db.knex.raw('select 1');
      res.json({ status: 'ready', database: deps.db.dialect });
    } catch {
      res.status(503).json({ status: 'database unavailable' });
    }
  });
  const openapi = fs.readFileSync(OPENAPI_PATH, 'utf8');
  app.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(openapi);
  });

  app.get('/metrics', async (req, res) => {
    if (deps.metricsToken !== undefined && !safeEqual(req.get('authorization') ?? '', `Bearer ${deps.metricsToken}`)) {
      return void res.status(401).type('text/plain').send('metrics need Authorization: Bearer <METRICS_TOKEN>\n');
    }
    res.type(deps.send.metrics.registry.contentType).send(await deps.send.metrics.registry.metrics());
  });

  // The operator panel is an app of its own (HTML, sessions, CSRF, helmet), not part of the JSON:API contract.
  app.use('/panel', createPanelApp(deps));
  app.use(redirectRootToPanel);
  app.use('/share', shareRoutes(deps.credentials, baseUrl));
  app.use(sendRoutes.router);

  const v1 = express.Router();
  v1.use(async (req, res, next) => {
    const ip = req.socket.remoteAddress;
    await deps.send.guard.assertAllowed(ip);
    try {
      res.locals.actor = await deps.adminTokens.authenticate(req.get('Authorization'));
    } catch (err) {
      await deps.send.guard.recordFailure(ip);
      throw err;
    }
    next();
  });
  v1.use(requireJsonBody({ extraTypes: { '/dids/import': ['text/csv', 'text/plain'] } }));
  v1.use(jsonBodyParser('25mb'));
  v1.use('/dids', didRoutes(deps.dids));
  v1.use('/did_sets', didSetRoutes(deps.didSets));
  const creds = credentialRoutes(deps.credentials, baseUrl);
  v1.use('/sms_trunks/:id', creds.trunkScoped);
  v1.use('/sms_trunks', trunkRoutes(deps.trunks, baseUrl));
  v1.use('/share_links', creds.shareLinks);
  v1.use('/audit_events', auditRoutes(deps.audit));
  v1.use('/admin_tokens', adminTokenRoutes(deps.adminTokens));
  const log = messageRoutes(deps.send.queries, deps.audit, deps.callbackMaxAgeMs, deps.onCallbackReplay);
  v1.use('/messages', log.messages);
  v1.use('/callbacks', log.callbacks);
  v1.get('/', (_req, res) => send(res, 200, { meta: { api: 'sms-out management', version: 1 }, links: { openapi: '/openapi.json' } }));
  app.use('/v1', v1);

  app.use(notFoundRoute);
  app.use(errorMiddleware(deps.logger));
  const listener: RequestListener = (req, res) => {
    if (!sendRoutes.serve(req, res)) app(req, res);
  };
  return Object.assign(listener, { express: app });
}
