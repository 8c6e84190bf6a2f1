import crypto from 'node:crypto';
import { Knex } from 'knex';

export type CallbackKind = 'status' | 'dlr';

export interface CallbackEvent {
  messageId: string;
  trunkId: string;
  url: string;
  kind: CallbackKind;
  /** JSON:API resource attributes, as DIDWW sends them. */
  attributes: Record<string, unknown>;
  occurredAt: string;
}

/** Each message has at most these two callbacks, so the sequence is fixed by kind and survives retries and replays. */
const SEQUENCE: Record<CallbackKind, number> = { status: 1, dlr: 2 };
const TYPE: Record<CallbackKind, string> = { status: 'outbound_message_callbacks', dlr: 'dlr_event' };

export interface CallbackRow {
  id: string;
  message_id: string;
  trunk_id: string;
  kind: CallbackKind;
  seq: number;
  url: string;
  body: string;
  occurred_at: string;
  state: 'pending' | 'delivered' | 'dead';
  attempts: number;
  next_attempt_at: string;
  give_up_at: string;
}

/**
 * The callback outbox: rows are written in the same transaction as the state change they report,
 * with the exact body bytes fixed then, so every retry and replay sends the same signed payload.
 */
export class CallbackOutbox {
  constructor(private readonly maxAgeMs: () => number) {}

  build(ev: CallbackEvent): CallbackRow {
    const id = crypto.randomUUID();
    const seq = SEQUENCE[ev.kind];
    const body = JSON.stringify({
      data: { type: TYPE[ev.kind], id: ev.messageId, attributes: ev.attributes },
      meta: { event_id: id, message_id: ev.messageId, sequence: seq, occurred_at: ev.occurredAt },
    });
    return {
      id,
      message_id: ev.messageId,
      trunk_id: ev.trunkId,
      kind: ev.kind,
      seq,
      url: ev.url,
      body,
      occurred_at: ev.occurredAt,
      state: 'pending',
      attempts: 0,
      next_attempt_at: ev.occurredAt,
      give_up_at: new Date(Date.parse(ev.occurredAt) + this.maxAgeMs()).toISOString(),
    };
  }

  async enqueue(trx: Knex.Transaction, events: CallbackEvent[]): Promise<CallbackRow[]> {
    const rows = events.map((e) => this.build(e));
    for (let i = 0; i < rows.length; i += 200) await trx('callbacks').insert(rows.slice(i, i + 200));
    return rows;
  }
}
