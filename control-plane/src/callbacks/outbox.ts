import { Knex } from 'knex';
import { timeOrderedId } from '../db/ids';
import { insertChunks, Statement, together } from '../db/set-writes';

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
  /** Set when the row was written already claimed (see CallbackOutbox.handOffTo). */
  lease_owner?: string | null;
  lease_until?: string | null;
}

/** Grants a lease on `count` new rows to a worker that has room for them now, or declines. */
export type CallbackLeaser = (count: number) => { owner: string; until: string } | undefined;

/**
 * The callback outbox: rows are written in the same transaction as the state change they report,
 * with the exact body bytes fixed then, so every retry and replay sends the same signed payload.
 */
export class CallbackOutbox {
  private leaser?: CallbackLeaser;

  constructor(private readonly maxAgeMs: () => number) {}

  /**
   * New rows are written already leased to this instance's worker when it has room, and handed to
   * it in memory once committed: no claim query and no poll between the commit and the POST. The
   * lease is the same as a claim's, so if the process dies the rows are claimed again when it runs out.
   */
  handOffTo(leaser: CallbackLeaser): void {
    this.leaser = leaser;
  }

  build(ev: CallbackEvent): CallbackRow {
    const id = timeOrderedId();
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
    const { rows, statements } = this.enqueueStatements(trx, events);
    await together(trx, statements);
    return rows;
  }

  /** The rows and their INSERTs, for a caller that runs them next to other statements (see together). */
  enqueueStatements(trx: Knex.Transaction, events: CallbackEvent[]): { rows: CallbackRow[]; statements: Statement[] } {
    const lease = events.length > 0 ? this.leaser?.(events.length) : undefined;
    const rows = events.map((e) => (lease ? { ...this.build(e), lease_owner: lease.owner, lease_until: lease.until } : this.build(e)));
    return { rows, statements: insertChunks(trx, 'callbacks', rows as unknown as Array<Record<string, unknown>>) };
  }
}
