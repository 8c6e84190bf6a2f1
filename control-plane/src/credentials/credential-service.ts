import crypto from 'node:crypto';
import { Knex } from 'knex';
import { nowIso } from '../db/database';
import { gone, invalidInput, notFound } from '../errors';
import type { Actor, AuditLog } from '../audit/audit-log';
import type { ChangeFeed } from '../shared/changes';
import { generateCallbackSecret } from '../callbacks/signing';
import { generatePassword, generateToken, generateUsername, hashToken, matchesDigest, secretDigest, SecretBox } from '../shared/secrets';

export interface Credentials {
  trunk_id: string;
  username: string;
  password: string;
  rotated_at: string;
  /** While set and in the future, the previous password is still accepted. */
  previous_password_valid_until: string | null;
}

export interface ShareLink {
  id: string;
  trunk_id: string;
  recipient: string | null;
  created_by: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  revoked_at: string | null;
}

/** The longest grace period a rotation may keep the old password alive: one week. */
export const MAX_GRACE_PERIOD_SECONDS = 7 * 86400;
export const MAX_SHARE_TTL_SECONDS = 7 * 86400;

/** What the send path checks a request's credentials against: SHA-256 digests of the passwords, not the passwords. */
export interface CachedCredentials {
  trunkId: string;
  passwordDigest: Buffer;
  previous?: { passwordDigest: Buffer; validUntilMs: number };
  loadedAtMs: number;
}

/** Compared with a username nobody has, so that an unknown username costs what a known one does. */
const NO_USER = secretDigest('x'.repeat(32));

/**
 * Trunk credentials: usernames are generated once and never change; passwords are sealed with
 * AES-256-GCM (so the panel can show them) and compared in constant time. Verification results are
 * cached per username for `cacheTtlMs` so the send path does no database round trip; local changes
 * invalidate at once, other instances converge within the TTL.
 */
export class CredentialService {
  private readonly cache = new Map<string, CachedCredentials | null>();

  constructor(
    private readonly knex: Knex,
    private readonly box: SecretBox,
    private readonly audit: AuditLog,
    private readonly changes: ChangeFeed,
    private readonly opts: { shareTtlSeconds: number; publicUrl: () => string; cacheTtlMs?: number },
  ) {
    changes.subscribe((kind) => {
      if (kind === 'credentials' || kind === 'sms_trunks') {
        this.cache.clear();
        this.secretCache.clear();
      }
    });
  }

  /** Called inside the trunk-creating transaction. */
  async issue(trx: Knex.Transaction, trunkId: string): Promise<void> {
    // Usernames are random; a collision (1 in 32^12) is retried rather than surfaced.
    for (let attempt = 0; ; attempt++) {
      const username = generateUsername();
      if (await trx('trunk_credentials').where({ username }).first()) {
        if (attempt > 5) throw new Error('could not generate a unique username');
        continue;
      }
      await trx('trunk_credentials').insert({
        trunk_id: trunkId,
        username,
        password_sealed: this.box.seal(generatePassword()),
        rotated_at: nowIso(),
      });
      await trx('trunk_callback_secrets').insert({ trunk_id: trunkId, secret_sealed: this.box.seal(generateCallbackSecret()), rotated_at: nowIso() });
      return;
    }
  }

  private readonly secretCache = new Map<string, { secrets: string[]; loadedAtMs: number; validUntilMs: number }>();

  /** Secrets that sign a trunk's callbacks: the current one, plus the previous one during a rotation. */
  async callbackSecrets(trunkId: string): Promise<string[]> {
    const now = Date.now();
    const hit = this.secretCache.get(trunkId);
    if (hit && now - hit.loadedAtMs <= (this.opts.cacheTtlMs ?? 1000) && now < hit.validUntilMs) return hit.secrets;
    const row = await this.knex('trunk_callback_secrets').where({ trunk_id: trunkId }).first();
    if (!row) return [];
    const until = row.previous_valid_until ? Date.parse(row.previous_valid_until) : 0;
    const secrets = [this.box.open(row.secret_sealed)];
    if (row.previous_secret_sealed && until > now) secrets.push(this.box.open(row.previous_secret_sealed));
    this.secretCache.set(trunkId, { secrets, loadedAtMs: now, validUntilMs: until > now ? until : Number.POSITIVE_INFINITY });
    return secrets;
  }

  async showCallbackSecret(trunkId: string, actor: Actor): Promise<{ secret: string; previous_valid_until: string | null; rotated_at: string }> {
    return this.knex.transaction(async (trx) => {
      const row = await trx('trunk_callback_secrets').where({ trunk_id: trunkId }).first();
      if (!row) throw notFound('TRUNK_NOT_FOUND', `SMS trunk ${trunkId} does not exist`);
      await this.audit.record(trx, actor, { action: 'callback_secret.view', resourceType: 'sms_trunks', resourceId: trunkId });
      const stillValid = row.previous_valid_until && row.previous_valid_until > nowIso();
      return { secret: this.box.open(row.secret_sealed), previous_valid_until: stillValid ? row.previous_valid_until : null, rotated_at: row.rotated_at };
    });
  }

  /** New signing secret; during the grace period callbacks carry signatures with both (Standard Webhooks allows several). */
  async rotateCallbackSecret(trunkId: string, gracePeriodSeconds: number, actor: Actor): Promise<{ secret: string; previous_valid_until: string | null; rotated_at: string }> {
    if (!Number.isInteger(gracePeriodSeconds) || gracePeriodSeconds < 0 || gracePeriodSeconds > MAX_GRACE_PERIOD_SECONDS) {
      throw invalidInput('GRACE_PERIOD_INVALID', `grace_period_seconds must be a whole number from 0 to ${MAX_GRACE_PERIOD_SECONDS}`, '/data/attributes/grace_period_seconds');
    }
    const result = await this.knex.transaction(async (trx) => {
      const row = await trx('trunk_callback_secrets').where({ trunk_id: trunkId }).first();
      if (!row) throw notFound('TRUNK_NOT_FOUND', `SMS trunk ${trunkId} does not exist`);
      const now = new Date();
      const secret = generateCallbackSecret();
      const until = gracePeriodSeconds > 0 ? new Date(now.getTime() + gracePeriodSeconds * 1000).toISOString() : null;
      await trx('trunk_callback_secrets')
        .where({ trunk_id: trunkId })
        .update({ secret_sealed: this.box.seal(secret), previous_secret_sealed: until ? row.secret_sealed : null, previous_valid_until: until, rotated_at: now.toISOString() });
      await this.audit.record(trx, actor, { action: 'callback_secret.rotate', resourceType: 'sms_trunks', resourceId: trunkId, after: { grace_period_seconds: gracePeriodSeconds } });
      return { secret, previous_valid_until: until, rotated_at: now.toISOString() };
    });
    this.secretCache.delete(trunkId);
    this.changes.changed('credentials', trunkId);
    return result;
  }

  private async load(trx: Knex | Knex.Transaction, trunkId: string): Promise<Credentials> {
    const row = await trx('trunk_credentials').where({ trunk_id: trunkId }).first();
    if (!row) throw notFound('TRUNK_NOT_FOUND', `SMS trunk ${trunkId} does not exist`);
    const stillValid = row.previous_valid_until && row.previous_valid_until > nowIso();
    return {
      trunk_id: trunkId,
      username: row.username,
      password: this.box.open(row.password_sealed),
      rotated_at: row.rotated_at,
      previous_password_valid_until: stillValid ? row.previous_valid_until : null,
    };
  }

  /** The credentials the panel's test send sends with. They are shown to no one, so this records no view (the send is recorded instead). */
  forTestSend(trunkId: string): Promise<Credentials> {
    return this.load(this.knex, trunkId);
  }

  async show(trunkId: string, actor: Actor): Promise<Credentials> {
    return this.knex.transaction(async (trx) => {
      const creds = await this.load(trx, trunkId);
      await this.audit.record(trx, actor, { action: 'credentials.view', resourceType: 'sms_trunks', resourceId: trunkId });
      return creds;
    });
  }

  /** Replaces the password. With a grace period the old one keeps working until it ends. */
  async regenerate(trunkId: string, gracePeriodSeconds: number, actor: Actor): Promise<Credentials> {
    if (!Number.isInteger(gracePeriodSeconds) || gracePeriodSeconds < 0 || gracePeriodSeconds > MAX_GRACE_PERIOD_SECONDS) {
      throw invalidInput('GRACE_PERIOD_INVALID', `grace_period_seconds must be a whole number from 0 to ${MAX_GRACE_PERIOD_SECONDS}`, '/data/attributes/grace_period_seconds');
    }
    const creds = await this.knex.transaction(async (trx) => {
      const row = await trx('trunk_credentials').where({ trunk_id: trunkId }).first();
      if (!row) throw notFound('TRUNK_NOT_FOUND', `SMS trunk ${trunkId} does not exist`);
      const now = new Date();
      await trx('trunk_credentials')
        .where({ trunk_id: trunkId })
        .update({
          password_sealed: this.box.seal(generatePassword()),
          previous_password_sealed: gracePeriodSeconds > 0 ? row.password_sealed : null,
          previous_valid_until: gracePeriodSeconds > 0 ? new Date(now.getTime() + gracePeriodSeconds * 1000).toISOString() : null,
          rotated_at: now.toISOString(),
        });
      await this.audit.record(trx, actor, {
        action: 'credentials.regenerate',
        resourceType: 'sms_trunks',
        resourceId: trunkId,
        after: { grace_period_seconds: gracePeriodSeconds },
      });
      return this.load(trx, trunkId);
    });
    this.changes.changed('credentials', trunkId);
    return creds;
  }

  /** Returns the trunk id when username and password match (current, or previous within grace). */
  async verify(username: string, password: string): Promise<string | undefined> {
    const entry = await this.lookup(username);
    return entry && this.passwordMatches(entry, password) ? entry.trunkId : undefined;
  }

  /**
   * The trunk a username belongs to, from the cache (no database round trip on the send path). The
   * send path checks the client IP against that trunk before the password, as DIDWW does.
   */
  async lookup(username: string): Promise<CachedCredentials | undefined> {
    const now = Date.now();
    let entry = this.cache.get(username);
    if (entry === undefined || (entry !== null && now - entry.loadedAtMs > (this.opts.cacheTtlMs ?? 1000))) {
      entry = await this.loadForVerify(username, now);
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(username, entry);
    }
    if (entry === null) {
      // Unknown usernames cost the same comparison as known ones, so timing does not tell them apart.
      matchesDigest(username, NO_USER);
      return undefined;
    }
    return entry;
  }

  passwordMatches(entry: CachedCredentials, password: string): boolean {
    if (matchesDigest(password, entry.passwordDigest)) return true;
    return entry.previous !== undefined && entry.previous.validUntilMs > Date.now() && matchesDigest(password, entry.previous.passwordDigest);
  }

  private async loadForVerify(username: string, now: number): Promise<CachedCredentials | null> {
    const row = await this.knex('trunk_credentials').where({ username }).first();
    if (!row) return null;
    const until = row.previous_valid_until ? Date.parse(row.previous_valid_until) : 0;
    return {
      trunkId: row.trunk_id,
      passwordDigest: secretDigest(this.box.open(row.password_sealed)),
      previous: row.previous_password_sealed && until > now ? { passwordDigest: secretDigest(this.box.open(row.previous_password_sealed)), validUntilMs: until } : undefined,
      loadedAtMs: now,
    };
  }

  async share(trunkId: string, input: { expiresInSeconds?: number; recipient?: string | null }, actor: Actor): Promise<ShareLink & { token: string; url: string }> {
    const ttl = input.expiresInSeconds ?? this.opts.shareTtlSeconds;
    if (!Number.isInteger(ttl) || ttl < 60 || ttl > MAX_SHARE_TTL_SECONDS) {
      throw invalidInput('SHARE_EXPIRY_INVALID', `expires_in_seconds must be a whole number from 60 to ${MAX_SHARE_TTL_SECONDS}`, '/data/attributes/expires_in_seconds');
    }
    const recipient = input.recipient ?? null;
    if (recipient !== null && (typeof recipient !== 'string' || recipient.length > 255 || /[\u0000-\u001f]/.test(recipient))) {
      throw invalidInput('SHARE_RECIPIENT_INVALID', 'recipient must be text of at most 255 characters (e.g. the administrator\'s name or e-mail)', '/data/attributes/recipient');
    }
    const token = generateToken('shr');
    const now = new Date();
    const link: ShareLink = {
      id: crypto.randomUUID(),
      trunk_id: trunkId,
      recipient,
      created_by: `${actor.name} (${actor.id})`,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + ttl * 1000).toISOString(),
      used_at: null,
      revoked_at: null,
    };
    await this.knex.transaction(async (trx) => {
      if (!(await trx('sms_trunks').where({ id: trunkId }).first('id'))) throw notFound('TRUNK_NOT_FOUND', `SMS trunk ${trunkId} does not exist`);
      await trx('share_links').insert({ ...link, token_hash: hashToken(token) });
      await this.audit.record(trx, actor, { action: 'credentials.share', resourceType: 'sms_trunks', resourceId: trunkId, after: { share_link: link.id, recipient, expires_at: link.expires_at } });
    });
    return { ...link, token, url: `${this.opts.publicUrl()}/share/${token}` };
  }

  async listShares(trunkId: string): Promise<ShareLink[]> {
    if (!(await this.knex('sms_trunks').where({ id: trunkId }).first('id'))) throw notFound('TRUNK_NOT_FOUND', `SMS trunk ${trunkId} does not exist`);
    return this.knex('share_links').where({ trunk_id: trunkId }).orderBy('created_at', 'desc').select('id', 'trunk_id', 'recipient', 'created_by', 'created_at', 'expires_at', 'used_at', 'revoked_at');
  }

  async revokeShare(id: string, actor: Actor): Promise<void> {
    await this.knex.transaction(async (trx) => {
      const link = await trx('share_links').where({ id }).first();
      if (!link) throw notFound('SHARE_LINK_NOT_FOUND', `Share link ${id} does not exist`);
      await trx('share_links').where({ id }).whereNull('revoked_at').update({ revoked_at: nowIso() });
      await this.audit.record(trx, actor, { action: 'credentials.share_revoke', resourceType: 'sms_trunks', resourceId: link.trunk_id, after: { share_link: id } });
    });
  }

  /** Whether a link can still be redeemed, without using it (the landing page asks before revealing). */
  async peek(token: string): Promise<ShareLink> {
    const link = await this.knex('share_links').where({ token_hash: hashToken(token) }).first();
    if (!link) throw notFound('SHARE_LINK_NOT_FOUND', 'This share link does not exist');
    this.assertUsable(link);
    return link;
  }

  private assertUsable(link: any): void {
    if (link.used_at) throw gone('SHARE_LINK_USED', 'This share link has already been used; ask for a new one');
    if (link.revoked_at) throw gone('SHARE_LINK_REVOKED', 'This share link has been revoked');
    if (link.expires_at <= nowIso()) throw gone('SHARE_LINK_EXPIRED', 'This share link has expired; ask for a new one');
  }

  /** Uses a link exactly once: a guarded UPDATE makes concurrent redemptions race to a single winner. */
  async redeem(token: string): Promise<{ credentials: Credentials; trunkName: string }> {
    return this.knex.transaction(async (trx) => {
      const hash = hashToken(token);
      const now = nowIso();
      const n = await trx('share_links')
        .where({ token_hash: hash })
        .whereNull('used_at')
        .whereNull('revoked_at')
        .where('expires_at', '>', now)
        .update({ used_at: now });
      const link = await trx('share_links').where({ token_hash: hash }).first();
      if (!link) throw notFound('SHARE_LINK_NOT_FOUND', 'This share link does not exist');
      if (n !== 1) {
        this.assertUsable(link);
        throw gone('SHARE_LINK_USED', 'This share link has already been used; ask for a new one');
      }
      const credentials = await this.load(trx, link.trunk_id);
      const trunk = await trx('sms_trunks').where({ id: link.trunk_id }).first('name');
      await this.audit.record(trx, { id: `share-link:${link.id}`, name: link.recipient ?? 'share link' }, {
        action: 'credentials.share_redeem',
        resourceType: 'sms_trunks',
        resourceId: link.trunk_id,
        after: { share_link: link.id },
      });
      return { credentials, trunkName: trunk?.name ?? '' };
    });
  }
}
