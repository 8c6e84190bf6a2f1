import crypto from 'node:crypto';
import { Knex } from 'knex';
import { nowIso } from '../db/database';
import { notAuthenticated, notFound, invalidInput } from '../errors';
import { generateToken, hashToken, safeEqual } from '../shared/secrets';
import type { Actor, AuditLog } from '../audit/audit-log';

export interface AdminTokenInfo {
  id: string;
  name: string;
  created_at: string;
  revoked_at: string | null;
}

/** Admin bearer tokens: stored only as SHA-256 hashes; ADMIN_TOKEN from the environment is also accepted. */
export class AdminTokens {
  constructor(
    private readonly knex: Knex,
    private readonly audit: AuditLog,
    private readonly envToken?: string,
  ) {}

  async authenticate(header: string | undefined): Promise<Actor> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) throw notAuthenticated('ADMIN_TOKEN_MISSING', 'Send an admin token as "Authorization: Bearer <token>"');
    const token = m[1]!;
    if (this.envToken !== undefined && safeEqual(token, this.envToken)) return { id: 'env', name: 'ADMIN_TOKEN' };
    // The lookup is by hash: an attacker learns nothing about stored values from timing.
    const row = await this.knex('admin_tokens').where({ token_hash: hashToken(token) }).whereNull('revoked_at').first();
    if (!row) throw notAuthenticated('ADMIN_TOKEN_INVALID', 'The admin token is not valid or has been revoked');
    return { id: row.id, name: row.name };
  }

  async count(): Promise<number> {
    const [{ n }] = await this.knex('admin_tokens').whereNull('revoked_at').count({ n: '*' });
    return Number(n);
  }

  async create(name: string, actor: Actor): Promise<AdminTokenInfo & { token: string }> {
    const trimmed = typeof name === 'string' ? name.trim() : '';
    if (trimmed.length < 1 || trimmed.length > 100 || /[\u0000-\u001f\u007f]/.test(trimmed)) {
      throw invalidInput('NAME_INVALID', 'name must be 1 to 100 printable characters', '/data/attributes/name');
    }
    const token = generateToken('sat');
    const info: AdminTokenInfo = { id: crypto.randomUUID(), name: trimmed, created_at: nowIso(), revoked_at: null };
    await this.knex.transaction(async (trx) => {
      await trx('admin_tokens').insert({ ...info, token_hash: hashToken(token) });
      await this.audit.record(trx, actor, { action: 'admin_token.create', resourceType: 'admin_tokens', resourceId: info.id, after: info });
    });
    return { ...info, token };
  }

  async list(): Promise<AdminTokenInfo[]> {
    return this.knex('admin_tokens').select('id', 'name', 'created_at', 'revoked_at').orderBy('created_at');
  }

  async revoke(id: string, actor: Actor): Promise<void> {
    await this.knex.transaction(async (trx) => {
      const n = await trx('admin_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: nowIso() });
      if (n !== 1) throw notFound('ADMIN_TOKEN_NOT_FOUND', `No active admin token with id ${id}`);
      await this.audit.record(trx, actor, { action: 'admin_token.revoke', resourceType: 'admin_tokens', resourceId: id });
    });
  }
}
