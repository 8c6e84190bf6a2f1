import { Knex } from 'knex';
import { nowIso } from '../db/database';
import { claimDue } from '../db/lease-claim';
import type { CallbackEvent, CallbackOutbox, CallbackRow } from '../callbacks/outbox';
import { DeliveryReceipt, isFinalReceiptStatus, ReceiptStatus } from '../connectors/carrier';
import type { TrunkAccess } from '../trunks/trunk-access';
import { CODE, messageStatusOf, processingStatusFor, rollUp } from './message-status';

export interface NewMessage {
  id: string;
  trunk_id: string;
  source: string;
  destination: string;
  content: string;
  encoding: string;
  segments: number;
  created_at: string;
}

export interface AcceptItem {
  messages: NewMessage[];
  idempotency?: { trunkId: string; key: string; hash: string; status: number; body: string };
}

export interface ClaimedMessage extends NewMessage {
  submit_attempts: number;
}

export type Outcome =
  | { kind: 'submitted'; message: ClaimedMessage; connector: string; carrierMessageIds: string[]; at: string }
  | { kind: 'failed'; message: ClaimedMessage; codeId: number; detail: string; at: string }
  | { kind: 'retry'; message: ClaimedMessage; nextAttemptAt: string; detail: string };

export interface ReceiptItem {
  connector: string;
  receipt: DeliveryReceipt;
}

const MESSAGE_CHUNK = 400;

/**
 * Every state change of a message and the callback rows that report it are written in one
 * transaction. Guards in the WHERE clauses keep transitions one-way: a message leaves `accepted`
 * once, and a final delivery status is never overwritten.
 */
export class MessageStore {
  constructor(
    private readonly outbox: CallbackOutbox,
    private readonly access: TrunkAccess,
  ) {}

  async accept(trx: Knex.Transaction, items: AcceptItem[]): Promise<void[]> {
    const rows = items.flatMap((i) => i.messages).map((m) => ({ ...m, status: 'accepted', next_attempt_at: m.created_at, updated_at: m.created_at }));
    for (let i = 0; i < rows.length; i += MESSAGE_CHUNK) await trx('messages').insert(rows.slice(i, i + MESSAGE_CHUNK));
    const keys = items.flatMap((i) => (i.idempotency ? [i.idempotency] : []));
    if (keys.length) {
      await trx('idempotency_keys').insert(
        keys.map((k) => ({ trunk_id: k.trunkId, key: k.key, request_hash: k.hash, response_status: k.status, response_body: k.body, created_at: nowIso() })),
      );
    }
    return items.map(() => undefined);
  }

  /** Claims due messages with a lease (see claimDue). */
  claim(knex: Knex, owner: string, limit: number, leaseMs: number): Promise<ClaimedMessage[]> {
    return claimDue<ClaimedMessage>(knex, 'messages', {
      pending: { status: 'accepted' },
      owner,
      limit,
      leaseMs,
      columns: ['id', 'trunk_id', 'source', 'destination', 'content', 'encoding', 'segments', 'created_at', 'submit_attempts'],
    });
  }

  async recordOutcomes(trx: Knex.Transaction, outcomes: Outcome[]): Promise<CallbackRow[][]> {
    const results: CallbackRow[][] = [];
    for (const o of outcomes) {
      const m = o.message;
      const events: CallbackEvent[] = [];
      const policy = await this.access.policy(m.trunk_id, trx);
      if (o.kind === 'retry') {
        await trx('messages')
          .where({ id: m.id, status: 'accepted' })
          .update({ submit_attempts: m.submit_attempts + 1, next_attempt_at: o.nextAttemptAt, lease_owner: null, lease_until: null, updated_at: nowIso() });
        await trx('message_events').insert({ message_id: m.id, type: 'submit_retry', status: null, detail: JSON.stringify({ reason: o.detail.slice(0, 400) }), occurred_at: nowIso() });
        results.push([]);
        continue;
      }
      if (o.kind === 'submitted') {
        const n = await trx('messages')
          .where({ id: m.id, status: 'accepted' })
          .update({ status: 'submitted', processing_status: 'Success', connector: o.connector, submitted_at: o.at, updated_at: o.at, lease_owner: null, lease_until: null, submit_attempts: m.submit_attempts + 1 });
        if (n !== 1) {
          results.push([]);
          continue;
        }
        await trx('message_parts').insert(
          o.carrierMessageIds.map((cid, i) => ({ message_id: m.id, seq: i + 1, connector: o.connector, carrier_message_id: cid, status: null, updated_at: o.at })),
        );
        await trx('message_events').insert({ message_id: m.id, type: 'submitted', status: 'Success', detail: JSON.stringify({ connector: o.connector, carrier_message_ids: o.carrierMessageIds }), occurred_at: o.at });
        if (policy?.callbackUrl) {
          events.push({
            messageId: m.id,
            trunkId: m.trunk_id,
            url: policy.callbackUrl,
            kind: 'status',
            occurredAt: o.at,
            attributes: statusAttributes(m, 'Success', null, o.at, o.carrierMessageIds.length),
          });
        }
        const rows = await this.outbox.enqueue(trx, events);
        // Receipts that overtook this write were parked; apply them now that the ids are mapped.
        const parked = await trx('pending_receipts').where('connector', o.connector).whereIn('carrier_message_id', o.carrierMessageIds);
        if (parked.length) {
          await trx('pending_receipts').where('connector', o.connector).whereIn('carrier_message_id', o.carrierMessageIds).delete();
          const more = await this.applyReceipts(
            trx,
            parked.map((p: any) => ({ connector: p.connector, receipt: JSON.parse(p.raw) as DeliveryReceipt })),
          );
          rows.push(...more.flat());
        }
        results.push(rows);
        continue;
      }
      const status = processingStatusFor(o.codeId);
      const n = await trx('messages')
        .where({ id: m.id, status: 'accepted' })
        .update({ status: 'failed', processing_status: status, code_id: o.codeId, final_at: o.at, updated_at: o.at, lease_owner: null, lease_until: null, submit_attempts: m.submit_attempts + 1 });
      if (n !== 1) {
        results.push([]);
        continue;
      }
      await trx('message_events').insert({ message_id: m.id, type: 'failed', status, detail: JSON.stringify({ code_id: o.codeId, reason: o.detail.slice(0, 400) }), occurred_at: o.at });
      if (policy?.callbackUrl) {
        events.push({ messageId: m.id, trunkId: m.trunk_id, url: policy.callbackUrl, kind: 'status', occurredAt: o.at, attributes: statusAttributes(m, status, o.codeId, o.at, 0) });
      }
      results.push(await this.outbox.enqueue(trx, events));
    }
    return results;
  }

  async applyReceipts(trx: Knex.Transaction, items: ReceiptItem[]): Promise<CallbackRow[][]> {
    const results: CallbackRow[][] = [];
    for (const { connector, receipt } of items) {
      const now = nowIso();
      const part = await trx('message_parts').where({ connector, carrier_message_id: receipt.carrierMessageId }).first();
      if (!part) {
        const exists = await trx('pending_receipts').where({ connector, carrier_message_id: receipt.carrierMessageId, status: receipt.status }).first();
        if (!exists) {
          // The whole receipt is kept so the DLR built later carries its error code and done date.
          await trx('pending_receipts').insert({ connector, carrier_message_id: receipt.carrierMessageId, status: receipt.status, raw: JSON.stringify(receipt), received_at: now });
        }
        results.push([]);
        continue;
      }
      const detail = JSON.stringify({ part: part.seq, carrier_message_id: receipt.carrierMessageId, error_code: receipt.errorCode ?? null });
      if (!isFinalReceiptStatus(receipt.status) || (part.status && isFinalReceiptStatus(part.status))) {
        // Intermediate states are history only; a second final receipt for a part is a duplicate.
        await trx('message_events').insert({ message_id: part.message_id, type: part.status ? 'receipt_duplicate' : 'receipt', status: receipt.status, detail, occurred_at: now });
        results.push([]);
        continue;
      }
      await trx('message_parts').where({ message_id: part.message_id, seq: part.seq }).update({ status: receipt.status, updated_at: now });
      await trx('message_events').insert({ message_id: part.message_id, type: 'receipt', status: receipt.status, detail, occurred_at: now });
      const parts: ReceiptStatus[] = (await trx('message_parts').where({ message_id: part.message_id }).orderBy('seq').pluck('status')) as ReceiptStatus[];
      const delivered = parts.filter((s) => s === 'DELIVERED').length;
      const failed = parts.filter((s) => s && s !== 'DELIVERED' && isFinalReceiptStatus(s)).length;
      await trx('messages').where({ id: part.message_id }).update({ parts_delivered: delivered, parts_failed: failed, updated_at: now });
      if (delivered + failed < parts.length) {
        results.push([]);
        continue;
      }
      const final = rollUp(parts);
      const n = await trx('messages')
        .where({ id: part.message_id, status: 'submitted' })
        .whereNull('final_status')
        .update({ status: messageStatusOf(final), final_status: final, final_at: now, updated_at: now });
      if (n !== 1) {
        results.push([]);
        continue;
      }
      const m = await trx('messages').where({ id: part.message_id }).first();
      await trx('message_events').insert({ message_id: m.id, type: 'final', status: final, detail: JSON.stringify({ parts_total: parts.length, parts_delivered: delivered, parts_failed: failed }), occurred_at: now });
      const policy = await this.access.policy(m.trunk_id, trx);
      if (policy?.callbackUrl && policy.dlrEvents) {
        results.push(
          await this.outbox.enqueue(trx, [
            {
              messageId: m.id,
              trunkId: m.trunk_id,
              url: policy.callbackUrl,
              kind: 'dlr',
              occurredAt: now,
              attributes: {
                status: final,
                destination: m.destination,
                source: m.source,
                parts_total: parts.length,
                parts_delivered: delivered,
                parts_failed: failed,
                error_code: receipt.errorCode ?? null,
                done_at: receipt.doneAt ?? now,
                time: now,
              },
            },
          ]),
        );
      } else results.push([]);
    }
    return results;
  }
}

function statusAttributes(m: NewMessage, status: string, codeId: number | null, at: string, fragmentsSent: number) {
  return {
    status,
    code_id: codeId,
    destination: m.destination,
    source: m.source,
    time_start: m.created_at,
    end_time: at,
    fragments_sent: fragmentsSent,
    // A self-hosted platform has no price list; null tells DIDWW clients that parse it that there is none.
    price: null,
  };
}

export { CODE };
