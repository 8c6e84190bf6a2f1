import crypto from 'node:crypto';
import { Knex } from 'knex';
import type { Actor } from '../audit/audit-log';
import { hashToken, safeEqual } from '../shared/secrets';

export interface PanelSession {
  /** The raw session id from the cookie (never stored: the table holds its SHA-256). */
  id: string;
  actor: Actor;
  csrfToken: string;
  expiresAt: string;
}

/** A session ends after this long without a request… */
export const SESSION_IDLE_MS = 8 * 60 * 60 * 1000;
/** …and in any case this long after sign-in. */
export const SESSION_MAX_MS = 24 * 60 * 60 * 1000;
/** last_seen_at is written at most this often, so browsing does not turn every page view into a write. */
const TOUCH_EVERY_MS = 60 * 1000;

/**
 * Panel sign-in sessions, in the database so every instance behind a balancer knows them and a
 * restart keeps operators signed in. Only a hash of the session id is stored: a copy of the table
 * cannot be replayed as cookies. The CSRF token is derived from the session id (it is never
 * stored either) and so cannot be computed from the table.
 */
export class PanelSessions {
  private lastPurgeMs = 0;

  constructor(
    private readonly knex: Knex,
    private readonly clock: () => number = Date.now,
  ) {}

  static csrfTokenFor(sessionId: string): string {
    return crypto.createHash('sha256').update('panel-csrf\0').update(sessionId).digest('base64url');
  }

  static checkCsrf(session: PanelSession, presented: string | undefined): boolean {
    return typeof presented === 'string' && presented.length > 0 && safeEqual(presented, session.csrfToken);
  }

  async create(actor: Actor): Promise<PanelSession> {
    const id = crypto.randomBytes(32).toString('base64url');
    const now = this.clock();
    const expiresAt = new Date(now + SESSION_MAX_MS).toISOString();
    await this.knex('panel_sessions').insert({
      id_hash: hashToken(id),
      actor_id: actor.id,
      actor_name: actor.name,
      created_at: new Date(now).toISOString(),
      last_seen_at: new Date(now).toISOString(),
      expires_at: expiresAt,
    });
    await this.purgeExpired();
    return { id, actor, csrfToken: PanelSessions.csrfTokenFor(id), expiresAt };
  }

  /**
   * The live session for a cookie value, or undefined. A session signed in with an admin token
   * ends when that token is revoked (ADMIN_TOKEN sessions end by expiry or sign-out).
   */
  async find(id: string | undefined): Promise<PanelSession | undefined> {
    if (!id || id.length > 100) return undefined;
    const row = await this.knex('panel_sessions')
      .leftJoin('admin_tokens', 'admin_tokens.id', 'panel_sessions.actor_id')
      .where('panel_sessions.id_hash', hashToken(id))
      .first('panel_sessions.*', 'admin_tokens.id as token_id', 'admin_tokens.revoked_at as token_revoked_at');
    if (!row) return undefined;
    const now = this.clock();
    const idleEnd = Date.parse(row.last_seen_at) + SESSION_IDLE_MS;
    const revoked = row.actor_id !== 'env' && (row.token_id === null || row.token_id === undefined || row.token_revoked_at !== null);
    if (now >= Date.parse(row.expires_at) || now >= idleEnd || revoked) {
      await this.knex('panel_sessions').where({ id_hash: row.id_hash }).delete();
      return undefined;
    }
    if (now - Date.parse(row.last_seen_at) >= TOUCH_EVERY_MS) {
      await this.knex('panel_sessions').where({ id_hash: row.id_hash }).update({ last_seen_at: new Date(now).toISOString() });
    }
    return { id, actor: { id: row.actor_id, name: row.actor_name }, csrfToken: PanelSessions.csrfTokenFor(id), expiresAt: row.expires_at };
  }

  async destroy(id: string): Promise<void> {
    await this.knex('panel_sessions').where({ id_hash: hashToken(id) }).delete();
  }

  /** Removes sessions past their absolute end; runs at most hourly, from sign-ins. */
  private async purgeExpired(): Promise<void> {
    const now = this.clock();
    if (now - this.lastPurgeMs < 60 * 60 * 1000) return;
    this.lastPurgeMs = now;
    await this.knex('panel_sessions').where('expires_at', '<=', new Date(now).toISOString()).delete();
  }
}
