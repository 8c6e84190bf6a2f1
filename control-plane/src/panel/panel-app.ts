import crypto from 'node:crypto';
import express, { Express, NextFunction, Request, Response, Router } from 'express';
import fs from 'node:fs';
import path from 'node:path';
import helmet from 'helmet';
import { DomainError } from '../errors';
import { safeEqual } from '../shared/secrets';
import { matchesAny, parseCidr, parseClientIp, CidrRange } from '../trunks/cidr';
import { didPages } from './did-pages';
import { html } from './html';
import { errorSummary, FormErrors, noErrors, page } from './layout';
import { localsOf, PanelDeps, PanelLocals, sendHtml, wantsFragment } from './panel-context';
import { PanelSessions } from './panel-sessions';
import { trunkPages } from './trunk-pages';

export const SESSION_COOKIE = 'panel_session';
const LOGIN_COOKIE = 'panel_login';
const FLASH_COOKIE = 'panel_flash';
const COOKIE_PATH = '/panel';

/** The panel's static files, found the same way from sources (tsx) and from compiled dist/. */
function assetsDir(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  return path.join(dir, 'control-plane/panel-assets');
}

export const PANEL_ASSETS_DIR = assetsDir();

export function readCookies(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!name || name in out) continue;
    try {
      out[name] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      // A cookie that is not valid percent-encoding is ignored, as browsers would never send ours so.
    }
  }
  return out;
}

/** True when the request reached us over TLS: directly, or through a trusted proxy that says so. */
export function requestIsSecure(req: Request, proxies: readonly CidrRange[]): boolean {
  if (req.secure) return true;
  const peer = parseClientIp(req.socket.remoteAddress);
  if (!peer || !matchesAny(peer, proxies)) return false;
  const proto = String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim().toLowerCase();
  return proto === 'https';
}

export type { PanelDeps };

export function createPanelApp(deps: PanelDeps): Express {
  const sessions = new PanelSessions(deps.db.knex);
  const proxies = deps.trustedProxies.map((p) => {
    const r = parseCidr(p);
    if (!r.ok) throw new Error(`TRUSTED_PROXIES entry ${JSON.stringify(p)} ${r.reason}`);
    return r.range;
  });
  const cookieOptions = (req: Request) => ({ httpOnly: true, sameSite: 'strict' as const, secure: requestIsSecure(req, proxies), path: COOKIE_PATH });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'"],
          connectSrc: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          baseUri: ["'none'"],
          objectSrc: ["'none'"],
        },
      },
    }),
  );
  // Revalidated on every load (ETag / Last-Modified), so an upgrade never leaves a stale script behind.
  app.use('/assets', express.static(PANEL_ASSETS_DIR, { index: false, fallthrough: false, maxAge: 0 }));
  app.use((_req, res, next) => {
    // Pages show credentials and share links: never stored by the browser or a proxy.
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  app.get('/', (_req, res) => res.redirect(302, '/panel/trunks'));

  const loginPage = (req: Request, res: Response, status: number, errors: FormErrors, loginToken: string) => {
    const next = typeof req.query.next === 'string' ? req.query.next : typeof req.body?.next === 'string' ? req.body.next : '';
    sendHtml(
      res,
      status,
      page(
        {},
        {
          title: 'Sign in',
          section: 'none',
          body: html`<section class="card signin">
  <h1>Sign in</h1>
  <p>Use an admin token: the one printed when the server first started, the value of <code>ADMIN_TOKEN</code>, or one made with <code>trunkctl token create</code>.</p>
  ${errorSummary(errors, { token: 'Admin token' })}
  <form method="post" action="/panel/login" novalidate>
    <input type="hidden" name="_csrf" value="${loginToken}">
    <input type="hidden" name="next" value="${safeNext(next) ?? ''}">
    <div class="field">
      <label for="f-token">Admin token</label>
      <input type="password" id="f-token" name="token" autocomplete="current-password" spellcheck="false" required autofocus${errors.fields.token ? html` aria-invalid="true" aria-describedby="e-token"` : ''}>
      ${errors.fields.token ? html`<ul class="field-errors" id="e-token">${errors.fields.token.map((m) => html`<li>${m}</li>`)}</ul>` : ''}
    </div>
    <button type="submit" class="btn btn-primary">Sign in</button>
  </form>
</section>`,
        },
      ),
    );
  };

  const newLoginToken = (req: Request, res: Response): string => {
    const token = crypto.randomBytes(32).toString('base64url');
    res.cookie(LOGIN_COOKIE, token, { ...cookieOptions(req), maxAge: 60 * 60 * 1000 });
    return token;
  };

  // The sign-in form carries a token that must match a cookie set with it (login CSRF), so another
  // site cannot sign a browser in with the attacker's token.
  app.get('/login', async (req, res) => {
    const session = await sessions.find(readCookies(req)[SESSION_COOKIE]);
    if (session) return res.redirect(302, safeNext(req.query.next) ?? '/panel/trunks');
    loginPage(req, res, 200, noErrors(), newLoginToken(req, res));
  });

  app.post('/login', express.urlencoded({ extended: false, limit: '8kb' }), async (req, res) => {
    const cookieToken = readCookies(req)[LOGIN_COOKIE];
    const formToken = req.body?._csrf;
    if (!cookieToken || typeof formToken !== 'string' || !safeEqual(cookieToken, formToken)) {
      return loginPage(req, res, 403, { form: ['The sign-in form expired or came from another site. Try again.'], fields: {} }, newLoginToken(req, res));
    }
    const token = typeof req.body.token === 'string' ? req.body.token.trim() : '';
    if (!token) return loginPage(req, res, 400, { form: [], fields: { token: ['Paste an admin token'] } }, newLoginToken(req, res));
    const clientIp = deps.send.clientIp.resolve(req);
    let actor;
    try {
      // Guessing tokens here meets the same brute-force limits as the API.
      await deps.send.guard.assertAllowed(clientIp);
      actor = await deps.adminTokens.authenticate(`Bearer ${token}`);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      if (err.category === 'rate_limited') {
        res.setHeader('Retry-After', String(err.retryAfterSeconds ?? 60));
        return loginPage(req, res, 429, { form: [err.items[0]?.detail ?? 'Too many failed sign-ins; wait a while'], fields: {} }, newLoginToken(req, res));
      }
      await deps.send.guard.recordFailure(clientIp);
      return loginPage(req, res, 401, { form: [], fields: { token: [err.items[0]?.detail ?? 'Not a valid admin token'] } }, newLoginToken(req, res));
    }
    // A new sign-in replaces the session this browser had, so an old cookie cannot linger.
    const previous = readCookies(req)[SESSION_COOKIE];
    if (previous) await sessions.destroy(previous);
    const session = await sessions.create(actor);
    await deps.audit.record(deps.db.knex, actor, { action: 'panel.sign_in', resourceType: 'panel_sessions' });
    res.clearCookie(LOGIN_COOKIE, cookieOptions(req));
    res.cookie(SESSION_COOKIE, session.id, cookieOptions(req));
    res.redirect(303, safeNext(req.body.next) ?? '/panel/trunks');
  });

  // Everything below needs a session.
  const secured = Router();
  secured.use(async (req, res, next) => {
    const session = await sessions.find(readCookies(req)[SESSION_COOKIE]);
    if (!session) {
      if (req.method === 'GET' && !wantsFragment(req) && !req.path.startsWith('/api/')) {
        return res.redirect(302, `/panel/login?next=${encodeURIComponent(req.originalUrl)}`);
      }
      return sendHtml(res, 401, page({}, { title: 'Signed out', section: 'none', body: html`<section class="card"><h1>Signed out</h1><p>Your session has ended. <a href="/panel/login">Sign in again</a>.</p></section>` }));
    }
    const cookies = readCookies(req);
    const flash = cookies[FLASH_COOKIE];
    if (flash !== undefined && req.method === 'GET' && !wantsFragment(req)) res.clearCookie(FLASH_COOKIE, cookieOptions(req));
    const locals = localsOf(res);
    locals.session = session;
    locals.ctx = { actorName: session.actor.name, csrfToken: session.csrfToken, flash: req.method === 'GET' && !wantsFragment(req) ? flash : undefined };
    next();
  });
  // DID imports carry a whole CSV file; every other form is small.
  secured.use('/dids/import', express.urlencoded({ extended: false, limit: '20mb', parameterLimit: 100 }));
  secured.use(express.urlencoded({ extended: false, limit: '2mb', parameterLimit: 25_000 }));
  secured.use((req, res, next) => {
    if (req.method !== 'POST') return next();
    const presented = (req.body as Record<string, unknown> | undefined)?._csrf ?? req.get('x-csrf-token');
    if (!PanelSessions.checkCsrf(localsOf(res).session, typeof presented === 'string' ? presented : undefined)) {
      deps.logger.warn({ path: req.path }, 'panel: POST without a valid CSRF token refused');
      return sendHtml(
        res,
        403,
        page(localsOf(res).ctx, {
          title: 'Refused',
          section: 'none',
          body: html`<section class="card"><h1>Request refused</h1><p>This form is out of date or was sent from another site (its CSRF token is missing or wrong). Go back, reload the page and try again.</p></section>`,
        }),
      );
    }
    next();
  });

  secured.post('/logout', async (req, res) => {
    await sessions.destroy(localsOf(res).session.id);
    await deps.audit.record(deps.db.knex, localsOf(res).session.actor, { action: 'panel.sign_out', resourceType: 'panel_sessions' });
    res.clearCookie(SESSION_COOKIE, cookieOptions(req));
    res.redirect(303, '/panel/login');
  });

  const flash = (req: Request, res: Response, message: string) => res.cookie(FLASH_COOKIE, message, { ...cookieOptions(req), maxAge: 60 * 1000 });
  trunkPages(secured, deps, flash);
  didPages(secured, deps, flash);

  secured.use((req, res) => {
    sendHtml(res, 404, page(localsOf(res).ctx, { title: 'Not found', section: 'none', body: html`<section class="card"><h1>Not found</h1><p>There is no page at <code>${req.originalUrl}</code>. <a href="/panel/trunks">Back to the trunks</a>.</p></section>` }));
  });
  app.use(secured);

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return void req.socket.destroy();
    const ctx = (res.locals as Partial<PanelLocals>).ctx ?? {};
    if (err instanceof DomainError) {
      const status = err.category === 'not_found' ? 404 : err.category === 'payload_too_large' ? 413 : 400;
      return sendHtml(res, status, page(ctx, { title: 'Problem', section: 'none', body: html`<section class="card"><h1>${status === 404 ? 'Not found' : 'Problem'}</h1><p>${err.items.map((i) => i.detail).join(' ')}</p><p><a href="/panel/trunks">Back to the trunks</a></p></section>` }));
    }
    // Errors from body parsers and the static file server (http-errors) carry their own 4xx status.
    const status = Number((err as { status?: unknown })?.status);
    if (status >= 400 && status < 500) {
      const message = status === 404 ? 'There is no such file.' : status === 413 ? 'The form data is larger than the panel accepts.' : 'The request could not be read.';
      return sendHtml(res, status, page(ctx, { title: 'Problem', section: 'none', body: html`<section class="card"><h1>${status === 404 ? 'Not found' : 'Problem'}</h1><p>${message}</p></section>` }));
    }
    deps.logger.error({ err, method: req.method, url: req.originalUrl }, 'panel: unhandled error');
    sendHtml(res, 500, page(ctx, { title: 'Error', section: 'none', body: html`<section class="card"><h1>Something went wrong</h1><p>An unexpected error occurred; it has been logged.</p></section>` }));
  });
  return app;
}

/** Redirect targets after sign-in must stay inside the panel (no open redirect). */
function safeNext(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return /^\/panel(\/[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*)?$/.test(value) && !value.startsWith('//') && !value.includes('/../') ? value : undefined;
}

/** GET / → the panel; a plain middleware so it answers only the bare root. */
export function redirectRootToPanel(req: Request, res: Response, next: NextFunction): void {
  if ((req.method === 'GET' || req.method === 'HEAD') && req.path === '/') return res.redirect(302, '/panel/');
  next();
}
