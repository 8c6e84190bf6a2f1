import { Knex } from 'knex';
import { nowIso } from '../db/database';

export interface Actor {
  /** Stable id of the admin token (or `env` for ADMIN_TOKEN, `share-link:<id>` for a redeemed link). */
  id: string;
  name: string;
}

export interface AuditEntry {
  action: string;
  resourceType: string;
  resourceId?: string | null;
  before?: unknown;
  after?: unknown;
}

export interface AuditEvent {
  id: string;
  occurred_at: string;
  actor: string;
  action: string;
  resource_type: string;
  resource_id: string | null;
  before: unknown;
  after: unknown;
}

export interface AuditFilter {
  resourceType?: string;
  resourceId?: string;
  action?: string;
  actor?: string;
  since?: string;
  until?: string;
}

/** Audit rows are written inside the caller's transaction, so a rejected write leaves no entry. */
export class AuditLog {
  constructor(private readonly knex: Knex) {}

  async record(trx: Knex.Transaction | Knex, actor: Actor, entry: AuditEntry): Promise<void> {
    await trx('audit_events').insert({
      occurred_at: nowIso(),
      actor: `${actor.name} (${actor.id})`,
      action: entry.action,
      resource_type: entry.resourceType,
      resource_id: entry.resourceId ?? null,
      before: entry.before === undefined ? null : JSON.stringify(entry.before),
      after: entry.after === undefined ? null : JSON.stringify(entry.after),
    });
  }

  private filtered(f: AuditFilter): Knex.QueryBuilder {
    const q = this.knex('audit_events');
    if (f.resourceType) q.where('resource_type', f.resourceType);
    if (f.resourceId) q.where('resource_id', f.resourceId);
    if (f.action) q.where('action', f.action);
    if (f.actor) q.where('actor', 'like', `%${f.actor.replace(/[%_\\]/g, '')}%`);
    if (f.since) q.where('occurred_at', '>=', f.since);
    if (f.until) q.where('occurred_at', '<', f.until);
    return q;
  }

  async list(f: AuditFilter, page: { number: number; size: number }): Promise<{ items: AuditEvent[]; total: number }> {
    const [{ n }] = await this.filtered(f).count({ n: '*' });
    const rows = await this.filtered(f)
      .orderBy('id', 'desc')
      .limit(page.size)
      .offset((page.number - 1) * page.size);
    return {
      total: Number(n),
      items: rows.map((r: any) => ({
        ...r,
        id: String(r.id),
        before: r.before === null ? null : JSON.parse(r.before),
        after: r.after === null ? null : JSON.parse(r.after),
      })),
    };
  }
}
