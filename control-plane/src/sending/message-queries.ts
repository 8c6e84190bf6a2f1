import { Knex } from 'knex';
import { nowIso } from '../db/database';
import { DomainError, notFound } from '../errors';

export interface MessageFilter {
  trunkId?: string;
  status?: string;
  since?: string;
  until?: string;
}

/** Read side of the message log, shared by the trunk's GET /outbound_messages/{id} and the admin API. */
export class MessageQueries {
  constructor(private readonly knex: Knex) {}

  /**
   * The stored response for an Idempotency-Key, when the same body was sent within the window.
   * The same key with another body is a 422; an expired key is forgotten so it can be used again.
   */
  async idempotentResponse(trunkId: string, key: string, hash: string, windowMs: number): Promise<{ status: number; body: string } | undefined> {
    const row = await this.knex('idempotency_keys').where({ trunk_id: trunkId, key }).first();
    if (!row) return undefined;
    if (Date.parse(row.created_at) < Date.now() - windowMs) {
      await this.knex('idempotency_keys').where({ trunk_id: trunkId, key, created_at: row.created_at }).delete();
      return undefined;
    }
    if (row.request_hash !== hash) {
      throw new DomainError('unprocessable', {
        code: 'IDEMPOTENCY_KEY_REUSED',
        title: 'Unprocessable Entity',
        detail: 'This Idempotency-Key was already used with a different request body; use a new key for a new message',
        meta: { header: 'Idempotency-Key' },
      });
    }
    return { status: Number(row.response_status), body: row.response_body };
  }

  async messageView(id: string, trunkId?: string, withCallbacks = false): Promise<Record<string, unknown>> {
    const q = this.knex('messages').where({ id });
    if (trunkId !== undefined) q.where({ trunk_id: trunkId });
    const m = await q.first();
    // Another trunk's message is reported exactly like a missing one.
    if (!m) throw notFound('MESSAGE_NOT_FOUND', `Outbound message ${id} does not exist`);
    const parts = await this.knex('message_parts').where({ message_id: id }).orderBy('seq');
    const events = await this.knex('message_events').where({ message_id: id }).orderBy('id');
    const view: Record<string, unknown> = {
      type: 'outbound_messages',
      id,
      attributes: {
        ...summaryAttributes(m),
        parts_total: parts.length || Number(m.segments),
        connector: m.connector,
        carrier_message_ids: parts.map((p: any) => p.carrier_message_id),
        events: [
          { type: 'accepted', status: null, occurred_at: m.created_at, detail: null },
          ...events.map((e: any) => ({ type: e.type, status: e.status, occurred_at: e.occurred_at, detail: e.detail ? JSON.parse(e.detail) : null })),
        ],
      },
      relationships: { sms_trunk: { data: { type: 'sms_trunks', id: m.trunk_id } } },
    };
    if (withCallbacks) (view.attributes as Record<string, unknown>).callbacks = await this.callbacksFor([id]).then((m) => m.get(id) ?? []);
    return view;
  }

  async callbacksFor(messageIds: string[]): Promise<Map<string, unknown[]>> {
    const out = new Map<string, unknown[]>();
    if (!messageIds.length) return out;
    const rows = await this.knex('callbacks').whereIn('message_id', messageIds).orderBy(['message_id', 'seq']);
    const attempts = rows.length ? await this.knex('callback_attempts').whereIn('callback_id', rows.map((r: any) => r.id)).orderBy('id') : [];
    for (const r of rows) {
      const list = out.get(r.message_id) ?? [];
      list.push({
        id: r.id,
        kind: r.kind,
        sequence: Number(r.seq),
        url: r.url,
        state: r.state,
        attempts: Number(r.attempts),
        next_attempt_at: r.state === 'pending' ? r.next_attempt_at : null,
        give_up_at: r.give_up_at,
        delivered_at: r.delivered_at,
        last_status_code: r.last_status_code,
        last_error: r.last_error,
        history: attempts
          .filter((a: any) => a.callback_id === r.id)
          .map((a: any) => ({ attempted_at: a.attempted_at, status_code: a.status_code, error: a.error, duration_ms: Number(a.duration_ms), outcome: a.outcome })),
      });
      out.set(r.message_id, list);
    }
    return out;
  }

  private filtered(f: MessageFilter): Knex.QueryBuilder {
    const q = this.knex('messages');
    if (f.trunkId) q.where('trunk_id', f.trunkId);
    if (f.status) q.where('status', f.status);
    if (f.since) q.where('created_at', '>=', f.since);
    if (f.until) q.where('created_at', '<', f.until);
    return q;
  }

  async list(f: MessageFilter, page: { number: number; size: number }): Promise<{ items: any[]; total: number }> {
    const [{ n }] = await this.filtered(f).count({ n: '*' });
    const rows = await this.filtered(f).orderBy('created_at', 'desc').orderBy('id').limit(page.size).offset((page.number - 1) * page.size);
    const callbacks = await this.callbacksFor(rows.map((r: any) => r.id));
    return {
      total: Number(n),
      items: rows.map((m: any) => ({
        type: 'outbound_messages',
        id: m.id,
        attributes: {
          ...summaryAttributes(m),
          content: m.content,
          callbacks: callbacks.get(m.id) ?? [],
        },
        relationships: { sms_trunk: { data: { type: 'sms_trunks', id: m.trunk_id } } },
      })),
    };
  }

  /** Puts a callback back in the queue with a fresh retry window; the body and event id stay the same. */
  async replayCallback(id: string, maxAgeMs: number, audit: (trx: Knex.Transaction) => Promise<void>): Promise<void> {
    await this.knex.transaction(async (trx) => {
    const now = nowIso();
    const row = await trx('callbacks').where({ id }).first();
    if (!row) throw notFound('CALLBACK_NOT_FOUND', `Callback ${id} does not exist`);
    // An attempt in progress keeps its lease; replaying it now would send it twice.
    if (row.lease_until && row.lease_until > now) {
      throw new DomainError('conflict', { code: 'CALLBACK_IN_FLIGHT', title: 'Conflict', detail: 'This callback is being delivered right now; replay it after the attempt finishes' });
    }
    await trx('callbacks')
      .where({ id })
      .update({ state: 'pending', next_attempt_at: now, give_up_at: new Date(Date.now() + maxAgeMs).toISOString(), lease_owner: null, lease_until: null });
    await audit(trx);
    });
  }
}

/** The attributes both the trunk's view and the admin log show for a message row. */
function summaryAttributes(m: any): Record<string, unknown> {
  return {
    status: m.status,
    processing_status: m.processing_status,
    code_id: m.code_id ?? null,
    final_status: m.final_status,
    destination: m.destination,
    source: m.source,
    encoding: m.encoding,
    segments: Number(m.segments),
    parts_delivered: Number(m.parts_delivered),
    parts_failed: Number(m.parts_failed),
    created_at: m.created_at,
    submitted_at: m.submitted_at,
    final_at: m.final_at,
  };
}
