import express, { Request, Router } from 'express';
import { ErrorCollector, invalidInput } from '../errors';
import { readResource, ResourceObject, short } from '../http/jsonapi';
import { send } from '../http/middleware';
import { Credentials, CredentialService, ShareLink } from './credential-service';

export function credentialsResource(c: Credentials, host: string): ResourceObject {
  return {
    type: 'sms_trunk_credentials',
    id: c.trunk_id,
    attributes: {
      username: c.username,
      password: c.password,
      rotated_at: c.rotated_at,
      previous_password_valid_until: c.previous_password_valid_until,
      host,
    },
  };
}

export function shareLinkResource(l: ShareLink & { url?: string }): ResourceObject {
  return {
    type: 'share_links',
    id: l.id,
    attributes: {
      url: l.url ?? null,
      recipient: l.recipient,
      created_by: l.created_by,
      created_at: l.created_at,
      expires_at: l.expires_at,
      used_at: l.used_at,
      revoked_at: l.revoked_at,
    },
    relationships: { sms_trunk: { data: { type: 'sms_trunks', id: l.trunk_id } } },
  };
}

/** Admin routes under /v1/sms_trunks/:id/credentials and /v1/share_links. */
const invalidGrace = (v: unknown) => invalidInput('GRACE_PERIOD_INVALID', `grace_period_seconds must be a number, got ${short(v)}`, '/data/attributes/grace_period_seconds');

const trunkIdOf = (req: Request): string => String((req.params as Record<string, string>).id);

export function credentialRoutes(service: CredentialService, baseUrl: (req: Request) => string): { trunkScoped: Router; shareLinks: Router } {
  const trunkScoped = Router({ mergeParams: true });
  const host = (req: Request) => `${baseUrl(req)}/outbound_messages`;

  trunkScoped.get('/credentials', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    send(res, 200, { data: credentialsResource(await service.show(trunkIdOf(req), res.locals.actor), host(req)) });
  });

  trunkScoped.post('/credentials/regenerate', async (req, res) => {
    const doc = readResource(req.body, 'credential_regenerations', { allowEmpty: true });
    const errors = new ErrorCollector();
    const grace = doc.attributes.grace_period_seconds ?? 0;
    for (const key of Object.keys(doc.attributes)) {
      if (key !== 'grace_period_seconds') errors.add('ATTRIBUTE_UNKNOWN', `Unknown attribute "${key}"; allowed: grace_period_seconds`, `/data/attributes/${key}`);
    }
    if (typeof grace !== 'number') errors.add('GRACE_PERIOD_INVALID', `grace_period_seconds must be a number, got ${short(grace)}`, '/data/attributes/grace_period_seconds');
    errors.throwIfAny();
    res.setHeader('Cache-Control', 'no-store');
    send(res, 200, { data: credentialsResource(await service.regenerate(trunkIdOf(req), grace as number, res.locals.actor), host(req)) });
  });

  trunkScoped.post('/credentials/share', async (req, res) => {
    const doc = readResource(req.body, 'share_links', { allowEmpty: true });
    const errors = new ErrorCollector();
    for (const key of Object.keys(doc.attributes)) {
      if (!['expires_in_seconds', 'recipient'].includes(key)) errors.add('ATTRIBUTE_UNKNOWN', `Unknown attribute "${key}"; allowed: expires_in_seconds, recipient`, `/data/attributes/${key}`);
    }
    const ttl = doc.attributes.expires_in_seconds;
    if (ttl !== undefined && typeof ttl !== 'number') errors.add('SHARE_EXPIRY_INVALID', `expires_in_seconds must be a number, got ${short(ttl)}`, '/data/attributes/expires_in_seconds');
    errors.throwIfAny();
    const link = await service.share(trunkIdOf(req), { expiresInSeconds: ttl as number | undefined, recipient: doc.attributes.recipient as string | undefined }, res.locals.actor);
    send(res, 201, { data: shareLinkResource(link) });
  });

  trunkScoped.get('/callback_secret', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const s = await service.showCallbackSecret(trunkIdOf(req), res.locals.actor);
    send(res, 200, { data: { type: 'callback_secrets', id: trunkIdOf(req), attributes: s } });
  });

  trunkScoped.post('/callback_secret/rotate', async (req, res) => {
    const doc = readResource(req.body, 'callback_secret_rotations', { allowEmpty: true });
    const grace = doc.attributes.grace_period_seconds ?? 0;
    if (typeof grace !== 'number') throw invalidGrace(grace);
    res.setHeader('Cache-Control', 'no-store');
    const s = await service.rotateCallbackSecret(trunkIdOf(req), grace, res.locals.actor);
    send(res, 200, { data: { type: 'callback_secrets', id: trunkIdOf(req), attributes: s } });
  });

  trunkScoped.get('/share_links', async (req, res) => {
    send(res, 200, { data: (await service.listShares(trunkIdOf(req))).map(shareLinkResource) });
  });

  const shareLinks = Router();
  shareLinks.delete('/:id', async (req, res) => {
    await service.revokeShare(req.params.id, res.locals.actor);
    res.status(204).end();
  });

  return { trunkScoped, shareLinks };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}code{background:#f1f3f5;padding:.15rem .35rem;border-radius:4px;font-size:1rem}dt{font-weight:600;margin-top:1rem}button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #0b5cad;background:#0b66c3;color:#fff;cursor:pointer}button:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}.warn{color:#8a4b00}</style></head><body>${body}</body></html>`;
}

/**
 * Public one-time links. GET only shows a page with a button, so chat or mail link previews
 * do not burn the link; POST redeems it (HTML for browsers, JSON:API for scripts).
 */
export function shareRoutes(service: CredentialService, baseUrl: (req: Request) => string): Router {
  const r = Router();
  const wantsHtml = (req: Request) => req.accepts(['application/vnd.api+json', 'application/json', 'text/html']) === 'text/html';
  r.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });

  const fail = (req: Request, res: express.Response, err: any) => {
    if (!wantsHtml(req) || !err?.items) throw err;
    const status = err.category === 'gone' ? 410 : 404;
    res.status(status).type('html').send(page('Link not available', `<h1>Link not available</h1><p class="warn">${escapeHtml(err.items[0].detail)}</p>`));
  };

  r.get('/:token', async (req, res) => {
    try {
      const link = await service.peek(req.params.token);
      // The holder of the link learns only when it expires, not who made it or for which trunk.
      if (!wantsHtml(req)) return send(res, 200, { data: { type: 'share_links', id: link.id, attributes: { recipient: link.recipient, expires_at: link.expires_at } } });
      res.type('html').send(
        page(
          'Shared SMS trunk credentials',
          `<h1>SMS trunk credentials</h1><p>Someone shared the credentials of an SMS OUT trunk with you${link.recipient ? ` (${escapeHtml(link.recipient)})` : ''}. This link works <strong>once</strong> and expires at ${escapeHtml(link.expires_at)}.</p><form method="post"><button type="submit">Reveal credentials</button></form>`,
        ),
      );
    } catch (err) {
      fail(req, res, err);
    }
  });

  r.post('/:token', express.urlencoded({ extended: false, limit: '1kb' }), async (req, res) => {
    try {
      const { credentials, trunkName } = await service.redeem(req.params.token);
      const host = `${baseUrl(req)}/outbound_messages`;
      if (!wantsHtml(req)) return send(res, 200, { data: credentialsResource(credentials, host), meta: { trunk_name: trunkName } });
      res.type('html').send(
        page(
          'Shared SMS trunk credentials',
          `<h1>Credentials for “${escapeHtml(trunkName)}”</h1><dl><dt>Username</dt><dd><code>${escapeHtml(credentials.username)}</code></dd><dt>Password</dt><dd><code>${escapeHtml(credentials.password)}</code></dd><dt>Send endpoint</dt><dd><code>${escapeHtml(host)}</code></dd></dl><p class="warn">Copy them now: this page cannot be opened again.</p>`,
        ),
      );
    } catch (err) {
      fail(req, res, err);
    }
  });
  return r;
}
