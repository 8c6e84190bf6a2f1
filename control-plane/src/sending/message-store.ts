import { Knex } from 'knex';
import { lockTransaction, nowIso, onSqlite, runsSideBySide, sqliteRows } from '../db/database';
import { claimDue } from '../db/lease-claim';
import { caseById, chunks, groupBy, insertChunks, insertValues, SET_CHUNK, Statement, together } from '../db/set-writes';
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
  /** Set by accept() when the messages were written already leased to this instance's dispatcher (see handOffTo). */
  leasedBy?: string;
}

/** Grants a lease on `count` new messages to a dispatcher with room for them now, or declines. */
export type MessageLeaser = (count: number) => { owner: string; until: string } | undefined;

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

const MESSAGE_COLUMNS = ['id', 'trunk_id', 'source', 'destination', 'content', 'encoding', 'segments', 'created_at', 'status', 'next_attempt_at', 'updated_at', 'lease_owner', 'lease_until'];
/** The columns a bulk send's messages share, and from how many messages on they are written once. */
const SHARED_COLUMNS = ['trunk_id', 'source', 'content', 'encoding', 'segments', 'created_at', 'status', 'next_attempt_at', 'updated_at', 'lease_owner', 'lease_until'];
const SHARED_MIN = 16;
/** Taken by every transaction that picks up parked receipts or parks one (see lockTransaction). */
const RECEIPT_LOCK = 'sms-out:message-parts';

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

  private leaser?: MessageLeaser;

  /**
   * Accepted messages are written already leased to this instance's dispatcher when it has room,
   * and handed to it in memory after the commit: no claim query and no poll between the 201 and
   * the submit_sm. The lease is a claim's, so if the process dies they are claimed again when it runs out.
   */
  handOffTo(leaser: MessageLeaser): void {
    this.leaser = leaser;
  }

  async accept(trx: Knex.Transaction, items: AcceptItem[]): Promise<void[]> {
    const count = items.reduce((n, i) => n + i.messages.length, 0);
    const lease = count > 0 ? this.leaser?.(count) : undefined;
    for (const i of items) i.leasedBy = lease?.owner;
    const owner = lease?.owner ?? null;
    const until = lease?.until ?? null;
    const rows: unknown[][] = [];
    const writes: Statement[] = [];
    for (const item of items) {
      const [first] = item.messages;
      if (first && item.messages.length >= SHARED_MIN && item.messages.every((m) => m.trunk_id === first.trunk_id && m.source === first.source && m.content === first.content && m.encoding === first.encoding && m.segments === first.segments && m.created_at === first.created_at)) {
        // A bulk send: every column but the id and the destination is the same in each row.
        const values = [first.trunk_id, first.source, first.content, first.encoding, first.segments, first.created_at, 'accepted', first.created_at, first.created_at, owner, until];
        writes.push(...insertValues(trx, 'messages', ['id', 'destination'], item.messages.map((m) => [m.id, m.destination]), { columns: SHARED_COLUMNS, values }));
        continue;
      }
      for (const m of item.messages) {
        rows.push([m.id, m.trunk_id, m.source, m.destination, m.content, m.encoding, m.segments, m.created_at, 'accepted', m.created_at, m.created_at, owner, until]);
      }
    }
    writes.push(...insertValues(trx, 'messages', MESSAGE_COLUMNS, rows));
    const keys = items.flatMap((i) => (i.idempotency ? [i.idempotency] : []));
    if (keys.length) {
      writes.push(() =>
        trx('idempotency_keys').insert(keys.map((k) => ({ trunk_id: k.trunkId, key: k.key, request_hash: k.hash, response_status: k.status, response_body: k.body, created_at: nowIso() }))),
      );
    }
    await together(trx, writes);
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

  /**
   * Records carrier outcomes. Submissions, the common case, are written set-wise — one guarded
   * UPDATE … RETURNING for the batch and one multi-row INSERT per table — so a group commit of
   * hundreds of outcomes costs a handful of statements; failures and retries (rare) go row by row.
   * Each message still moves out of `accepted` at most once: the guard decides, as before.
   */
  async recordOutcomes(trx: Knex.Transaction, outcomes: Outcome[]): Promise<CallbackRow[][]> {
    const results: CallbackRow[][] = outcomes.map(() => []);
    const submitted: Array<{ i: number; o: Extract<Outcome, { kind: 'submitted' }> }> = [];
    const seen = new Set<string>();
    for (const [i, o] of outcomes.entries()) {
      // A message twice in one batch: the guard would have made the second write a no-op.
      if (seen.has(o.message.id)) continue;
      seen.add(o.message.id);
      if (o.kind === 'submitted') submitted.push({ i, o });
      else results[i] = await this.recordOutcome(trx, o);
    }
    if (submitted.length === 0) return results;

    const moved = new Set<string>();
    for (let c = 0; c < submitted.length; c += SET_CHUNK) {
      const chunk = submitted.slice(c, c + SET_CHUNK);
      if (onSqlite(trx)) {
        const rows = await sqliteRows<{ id: string }>(trx, SQLITE.submitted, [JSON.stringify(chunk.map(({ o }) => [o.message.id, o.connector, o.at]))]);
        for (const r of rows) moved.add(r.id);
        continue;
      }
      const rows: Array<{ id: string }> = await trx('messages')
        .whereIn('id', chunk.map(({ o }) => o.message.id))
        .where({ status: 'accepted' })
        .update({
          status: 'submitted',
          processing_status: 'Success',
          connector: caseById(trx, chunk.map(({ o }) => [o.message.id, o.connector])),
          submitted_at: caseById(trx, chunk.map(({ o }) => [o.message.id, o.at])),
          updated_at: caseById(trx, chunk.map(({ o }) => [o.message.id, o.at])),
          lease_owner: null,
          lease_until: null,
          submit_attempts: trx.raw('submit_attempts + 1'),
        })
        .returning('id');
      for (const r of rows) moved.add(r.id);
    }
    const done = submitted.filter(({ o }) => moved.has(o.message.id));
    const events: Array<{ i: number; ev: CallbackEvent }> = [];
    for (const { i, o } of done) {
      const m = o.message;
      const policy = await this.access.policy(m.trunk_id, trx);
      if (policy?.callbackUrl) {
        events.push({ i, ev: { messageId: m.id, trunkId: m.trunk_id, url: policy.callbackUrl, kind: 'status', occurredAt: o.at, attributes: statusAttributes(m, 'Success', null, o.at, o.carrierMessageIds.length) } });
      }
    }
    const callbacks = this.outbox.enqueueStatements(trx, events.map((e) => e.ev));
    const writes: Statement[] = [
      ...insertChunks(
        trx,
        'message_parts',
        done.flatMap(({ o }) => o.carrierMessageIds.map((cid, k) => ({ message_id: o.message.id, seq: k + 1, connector: o.connector, carrier_message_id: cid, status: null, updated_at: o.at }))),
      ),
      ...insertChunks(
        trx,
        'message_events',
        done.map(({ o }) => ({ message_id: o.message.id, type: 'submitted', status: 'Success', detail: JSON.stringify({ connector: o.connector, carrier_message_ids: o.carrierMessageIds }), occurred_at: o.at })),
      ),
      ...callbacks.statements,
    ];

    // Receipts that overtook these writes were parked; apply them now that the ids are mapped.
    const owner = new Map<string, number>();
    const byConnector = new Map<string, string[]>();
    for (const { i, o } of done) {
      for (const cid of o.carrierMessageIds) {
        owner.set(`${o.connector}\0${cid}`, i);
        const list = byConnector.get(o.connector);
        if (list) list.push(cid);
        else byConnector.set(o.connector, [cid]);
      }
    }
    const parked: Array<{ connector: string; carrier_message_id: string; raw: string; copies: number }> = [];
    const findParked: Statement[] = [];
    for (const [connector, cids] of byConnector) {
      for (let c = 0; c < cids.length; c += SET_CHUNK) {
        const chunk = cids.slice(c, c + SET_CHUNK);
        const find = onSqlite(trx)
          ? () => sqliteRows<(typeof parked)[number]>(trx, SQLITE.parked, [connector, JSON.stringify(chunk)])
          : () => trx('pending_receipts').where('connector', connector).whereIn('carrier_message_id', chunk);
        findParked.push(() => find().then((rows) => void parked.push(...rows)));
      }
    }
    if (runsSideBySide(trx)) {
      // SQLite runs one transaction at a time: what is parked was committed before this one began
      // (receipts written in the same round park only after these outcomes are written, see
      // applyReceipts), so the lookup needs neither the lock nor our writes first.
      await together(trx, [...writes, ...findParked]);
    } else {
      await together(trx, writes);
      // Taken after the parts are written and held to the commit: a receipt transaction that is about
      // to park (it takes the same lock first) either sees our parts or has committed its parked row.
      await lockTransaction(trx, RECEIPT_LOCK);
      await together(trx, findParked);
    }
    callbacks.rows.forEach((row, k) => results[events[k]!.i]!.push(row));
    if (parked.length) {
      for (const [connector, rows] of groupBy(parked, (p) => p.connector)) {
        const cids = [...new Set(rows.map((p) => p.carrier_message_id))];
        for (let c = 0; c < cids.length; c += SET_CHUNK) await trx('pending_receipts').where('connector', connector).whereIn('carrier_message_id', cids.slice(c, c + SET_CHUNK)).delete();
      }
      // Every copy the SMSC sent is applied: the second of a receipt is recorded as its duplicate.
      const items: ReceiptItem[] = [];
      const itemOwner: number[] = [];
      for (const p of parked) {
        const receipt = JSON.parse(p.raw) as DeliveryReceipt;
        for (let c = 0; c < Number(p.copies); c++) {
          items.push({ connector: p.connector, receipt });
          itemOwner.push(owner.get(`${p.connector}\0${p.carrier_message_id}`)!);
        }
      }
      const more = await this.applyReceipts(trx, items);
      more.forEach((rows, k) => results[itemOwner[k]!]!.push(...rows));
    }
    return results;
  }

  /** One failed or retried submission, row by row (the rare paths). */
  private async recordOutcome(trx: Knex.Transaction, o: Outcome): Promise<CallbackRow[]> {
    const m = o.message;
    if (o.kind === 'retry') {
      await trx('messages')
        .where({ id: m.id, status: 'accepted' })
        .update({ submit_attempts: m.submit_attempts + 1, next_attempt_at: o.nextAttemptAt, lease_owner: null, lease_until: null, updated_at: nowIso() });
      await trx('message_events').insert({ message_id: m.id, type: 'submit_retry', status: null, detail: JSON.stringify({ reason: o.detail.slice(0, 400) }), occurred_at: nowIso() });
      return [];
    }
    if (o.kind === 'submitted') throw new Error('submissions are recorded set-wise');
    const policy = await this.access.policy(m.trunk_id, trx);
    const status = processingStatusFor(o.codeId);
    const n = await trx('messages')
      .where({ id: m.id, status: 'accepted' })
      .update({ status: 'failed', processing_status: status, code_id: o.codeId, final_at: o.at, updated_at: o.at, lease_owner: null, lease_until: null, submit_attempts: m.submit_attempts + 1 });
    if (n !== 1) return [];
    await trx('message_events').insert({ message_id: m.id, type: 'failed', status, detail: JSON.stringify({ code_id: o.codeId, reason: o.detail.slice(0, 400) }), occurred_at: o.at });
    if (!policy?.callbackUrl) return [];
    return this.outbox.enqueue(trx, [{ messageId: m.id, trunkId: m.trunk_id, url: policy.callbackUrl, kind: 'status', occurredAt: o.at, attributes: statusAttributes(m, status, o.codeId, o.at, 0) }]);
  }

  /**
   * Applies delivery receipts set-wise: the parts and their siblings are read in two queries, the
   * receipts are applied in order in memory (so a duplicate within the batch is a duplicate, and a
   * multipart message completes on the receipt that completes it), and the changes go out as a few
   * multi-row statements. The final-status UPDATE keeps its guard (still `submitted`, no final
   * status yet), so a message never moves back and a repeated receipt changes nothing.
   */
  async applyReceipts(trx: Knex.Transaction, items: ReceiptItem[], locked = false, outcomesDone?: Promise<void>): Promise<CallbackRow[][]> {
    const results: CallbackRow[][] = items.map(() => []);
    const now = nowIso();
    const key = (connector: string, cid: string) => `${connector}\0${cid}`;

    const partByKey = new Map<string, { message_id: string; seq: number; connector: string; carrier_message_id: string; status: ReceiptStatus | null }>();
    const wanted = new Map<string, Set<string>>();
    for (const { connector, receipt } of items) wanted.set(connector, (wanted.get(connector) ?? new Set()).add(receipt.carrierMessageId));
    // The parts the receipts name, every sibling part (to roll multipart messages up) and the
    // messages' addressing (for the DLR), in one query per chunk.
    const partsByMessage = new Map<string, Map<number, ReceiptStatus | null>>();
    const messageInfo = new Map<string, MessageInfo>();
    for (const [connector, cids] of wanted) {
      const list = [...cids];
      for (let c = 0; c < list.length; c += SET_CHUNK) {
        const chunk = list.slice(c, c + SET_CHUNK);
        const rows: PartRow[] = onSqlite(trx)
          ? await sqliteRows<PartRow>(trx, SQLITE.parts, [connector, JSON.stringify(chunk)])
          : await trx('message_parts as p')
              .join('messages as m', 'm.id', 'p.message_id')
              .whereIn('p.message_id', (q: Knex.QueryBuilder) => q.select('message_id').from('message_parts').where('connector', connector).whereIn('carrier_message_id', chunk))
              .select('p.message_id', 'p.seq', 'p.connector', 'p.carrier_message_id', 'p.status', 'm.trunk_id', 'm.source', 'm.destination');
        for (const r of rows) {
          const seq = Number(r.seq);
          if (r.connector === connector && cids.has(r.carrier_message_id)) {
            partByKey.set(key(r.connector, r.carrier_message_id), { message_id: r.message_id, seq, connector: r.connector, carrier_message_id: r.carrier_message_id, status: r.status });
          }
          messageInfo.set(r.message_id, { trunk_id: r.trunk_id, source: r.source, destination: r.destination, status: r.message_status, final_status: r.final_status });
          const parts = partsByMessage.get(r.message_id);
          if (parts) parts.set(seq, r.status);
          else partsByMessage.set(r.message_id, new Map([[seq, r.status]]));
        }
      }
    }
    const partsOf = new Map<string, Array<{ seq: number; status: ReceiptStatus | null }>>();
    for (const [id, parts] of partsByMessage) partsOf.set(id, [...parts].map(([seq, status]) => ({ seq, status })).sort((a, b) => a.seq - b.seq));

    const park: Array<{ connector: string; carrier_message_id: string; status: string; raw: string; received_at: string; copies: number }> = [];
    const receiptEvents: Array<Record<string, unknown>> = [];
    const partUpdates: Array<{ message_id: string; seq: number; status: ReceiptStatus }> = [];
    const counts = new Map<string, { delivered: number; failed: number }>();
    const completed = new Map<string, { i: number; final: ReceiptStatus; receipt: DeliveryReceipt; total: number; delivered: number; failed: number }>();
    for (const [i, { connector, receipt }] of items.entries()) {
      const part = partByKey.get(key(connector, receipt.carrierMessageId));
      if (!part) {
        // The whole receipt is kept so the DLR built later carries its error code and done date;
        // another copy of it only counts (applied, it is recorded as a duplicate).
        const same = park.find((p) => p.connector === connector && p.carrier_message_id === receipt.carrierMessageId && p.status === receipt.status);
        if (same) same.copies++;
        else park.push({ connector, carrier_message_id: receipt.carrierMessageId, status: receipt.status, raw: JSON.stringify(receipt), received_at: now, copies: 1 });
        continue;
      }
      const detail = JSON.stringify({ part: part.seq, carrier_message_id: receipt.carrierMessageId, error_code: receipt.errorCode ?? null });
      if (!isFinalReceiptStatus(receipt.status) || (part.status && isFinalReceiptStatus(part.status))) {
        // Intermediate states are history only; a second final receipt for a part is a duplicate.
        receiptEvents.push({ message_id: part.message_id, type: part.status ? 'receipt_duplicate' : 'receipt', status: receipt.status, detail, occurred_at: now });
        continue;
      }
      part.status = receipt.status;
      const parts = partsOf.get(part.message_id)!;
      parts.find((p) => p.seq === Number(part.seq))!.status = receipt.status;
      partUpdates.push({ message_id: part.message_id, seq: Number(part.seq), status: receipt.status });
      receiptEvents.push({ message_id: part.message_id, type: 'receipt', status: receipt.status, detail, occurred_at: now });
      const statuses = parts.map((p) => p.status);
      const delivered = statuses.filter((s) => s === 'DELIVERED').length;
      const failed = statuses.filter((s) => s && s !== 'DELIVERED' && isFinalReceiptStatus(s)).length;
      counts.set(part.message_id, { delivered, failed });
      if (delivered + failed === statuses.length && !completed.has(part.message_id)) {
        completed.set(part.message_id, { i, final: rollUp(statuses as ReceiptStatus[]), receipt, total: statuses.length, delivered, failed });
      }
    }

    // Two rare cases need the lock, and then a fresh start under it (nothing is written yet):
    // parking a receipt that overtook its submit outcome — under the lock the outcome being written
    // has either committed, so reading again finds its parts, or will see our parked row — and a
    // multipart message, whose parts' receipts may be applied by two transactions at once, each
    // blind to the other's part. Single-part messages need neither: the guarded final UPDATE decides.
    // Written alongside the round's submit outcomes (see CommitGroup), a receipt whose part was not
    // found may name one they are writing: read again once they are written, before parking it.
    if (park.length && outcomesDone) {
      await outcomesDone;
      return this.applyReceipts(trx, items, locked);
    }
    const multipart = [...counts.keys()].some((id) => (partsOf.get(id)?.length ?? 0) > 1);
    if ((park.length || multipart) && !locked && (await lockTransaction(trx, RECEIPT_LOCK))) return this.applyReceipts(trx, items, true);
    // A receipt parked before (by an earlier batch) only adds its copies to that row's count.
    for (const rows of chunks(park)) {
      await trx('pending_receipts')
        .insert(rows)
        .onConflict(['connector', 'carrier_message_id', 'status'])
        .merge({ copies: trx.raw('pending_receipts.copies + excluded.copies') });
    }
    // One UPDATE per (status, seq): for single-part messages, usually one statement for the batch.
    // These statements touch different rows or columns and run side by side (see together).
    const writes: Statement[] = [];
    for (const [, group] of groupBy(partUpdates, (u) => `${u.status}\0${u.seq}`)) {
      for (let c = 0; c < group.length; c += SET_CHUNK) {
        const ids = group.slice(c, c + SET_CHUNK).map((u) => u.message_id);
        const { seq, status } = group[0]!;
        writes.push(onSqlite(trx) ? () => sqliteRows(trx, SQLITE.partStatus, [status, now, seq, JSON.stringify(ids)]) : () => trx('message_parts').whereIn('message_id', ids).where('seq', seq).update({ status, updated_at: now }));
      }
    }
    writes.push(...insertChunks(trx, 'message_events', receiptEvents));
    // Messages this batch completes get their counts in the final-status UPDATE below: one UPDATE of the row, not two.
    for (const [, group] of groupBy([...counts].filter(([id]) => !completed.has(id)), ([, n]) => `${n.delivered}\0${n.failed}`)) {
      const [, n] = group[0]!;
      for (let c = 0; c < group.length; c += SET_CHUNK) {
        const ids = group.slice(c, c + SET_CHUNK).map(([id]) => id);
        writes.push(onSqlite(trx) ? () => sqliteRows(trx, SQLITE.partCounts, [n.delivered, n.failed, now, JSON.stringify(ids)]) : () => trx('messages').whereIn('id', ids).update({ parts_delivered: n.delivered, parts_failed: n.failed, updated_at: now }));
      }
    }
    const finals = new Set<string>();
    for (const [, group] of groupBy([...completed], ([, c]) => `${c.final}\0${c.delivered}\0${c.failed}`)) {
      const { final, delivered, failed } = group[0]![1];
      for (let c = 0; c < group.length; c += SET_CHUNK) {
        const ids = group.slice(c, c + SET_CHUNK).map(([id]) => id);
        const status = messageStatusOf(final);
        const update = onSqlite(trx)
          ? () => sqliteRows<{ id: string }>(trx, SQLITE.final, [status, final, now, now, delivered, failed, JSON.stringify(ids)])
          : () =>
              trx('messages')
                .whereIn('id', ids)
                .where({ status: 'submitted' })
                .whereNull('final_status')
                .update({ status, final_status: final, final_at: now, updated_at: now, parts_delivered: delivered, parts_failed: failed })
                .returning('id') as unknown as Promise<Array<{ id: string }>>;
        writes.push(() =>
          update().then((rows) => {
            for (const r of rows) finals.add(r.id);
          }),
        );
      }
    }
    // On SQLite nothing else changes these messages between the read above and the final UPDATE:
    // SQLite runs one transaction at a time, and the submit outcomes written alongside in the same
    // round (see CommitGroup) touch only messages still `accepted`, which have no parts to find. So
    // the read tells which completed messages the guard lets through: their final events and DLR
    // callbacks are written with everything else, one round trip fewer. RETURNING still checks it.
    if (onSqlite(trx)) {
      const expected = [...completed.keys()].filter((id) => messageInfo.get(id)?.status === 'submitted' && !messageInfo.get(id)?.final_status);
      const after = await this.finalWrites(trx, completed, messageInfo, new Set(expected), now);
      await together(trx, [...writes, ...after.statements]);
      if (finals.size !== expected.length || expected.some((id) => !finals.has(id))) throw new Error('a message changed while its receipts were applied');
      after.rows.forEach(({ i, row }) => results[i]!.push(row));
      return results;
    }
    await together(trx, writes);
    if (finals.size === 0) return results;
    const after = await this.finalWrites(trx, completed, messageInfo, finals, now);
    await together(trx, after.statements);
    after.rows.forEach(({ i, row }) => results[i]!.push(row));
    return results;
  }

  /** The final events and DLR callbacks of the messages `finals` completes. */
  private async finalWrites(
    trx: Knex.Transaction,
    completed: Map<string, { i: number; final: ReceiptStatus; receipt: DeliveryReceipt; total: number; delivered: number; failed: number }>,
    messageInfo: Map<string, MessageInfo>,
    finals: Set<string>,
    now: string,
  ): Promise<{ statements: Statement[]; rows: Array<{ i: number; row: CallbackRow }> }> {
    const finalEvents: Array<Record<string, unknown>> = [];
    const dlrs: Array<{ i: number; ev: CallbackEvent }> = [];
    for (const [id, c] of completed) {
      const m = messageInfo.get(id);
      if (!m || !finals.has(id)) continue;
      finalEvents.push({ message_id: id, type: 'final', status: c.final, detail: JSON.stringify({ parts_total: c.total, parts_delivered: c.delivered, parts_failed: c.failed }), occurred_at: now });
      const policy = await this.access.policy(m.trunk_id, trx);
      if (policy?.callbackUrl && policy.dlrEvents) {
        dlrs.push({
          i: c.i,
          ev: {
            messageId: id,
            trunkId: m.trunk_id,
            url: policy.callbackUrl,
            kind: 'dlr',
            occurredAt: now,
            attributes: {
              status: c.final,
              destination: m.destination,
              source: m.source,
              parts_total: c.total,
              parts_delivered: c.delivered,
              parts_failed: c.failed,
              error_code: c.receipt.errorCode ?? null,
              done_at: c.receipt.doneAt ?? now,
              time: now,
            },
          },
        });
      }
    }
    const callbacks = this.outbox.enqueueStatements(trx, dlrs.map((d) => d.ev));
    return {
      statements: [...insertChunks(trx, 'message_events', finalEvents), ...callbacks.statements],
      rows: callbacks.rows.map((row, k) => ({ i: dlrs[k]!.i, row })),
    };
  }
}

interface MessageInfo {
  trunk_id: string;
  source: string;
  destination: string;
  /** Read on SQLite only (see applyReceipts). */
  status?: string;
  final_status?: string | null;
}

interface PartRow {
  message_id: string;
  seq: number | string;
  connector: string;
  carrier_message_id: string;
  status: ReceiptStatus | null;
  trunk_id: string;
  source: string;
  destination: string;
  message_status?: string;
  final_status?: string | null;
}

/**
 * The hot statements on SQLite, with their rows or ids as one JSON parameter: fixed SQL, so each is
 * prepared once per connection (see sqliteRows). They say what the knex queries beside them say.
 * `+status` keeps SQLite's planner on the primary key: the status index would scan every accepted message.
 */
const JSON_IDS = 'select value from json_each(?)';
const SQLITE = {
  submitted:
    "update messages set status = 'submitted', processing_status = 'Success', connector = v.connector, submitted_at = v.at, updated_at = v.at, " +
    'lease_owner = null, lease_until = null, submit_attempts = submit_attempts + 1 ' +
    "from (select json_extract(value, '$[0]') as message_id, json_extract(value, '$[1]') as connector, json_extract(value, '$[2]') as at from json_each(?)) as v " +
    "where messages.id = v.message_id and +messages.status = 'accepted' returning id",
  parked: `select * from pending_receipts where connector = ? and carrier_message_id in (${JSON_IDS})`,
  parts:
    'select p.message_id, p.seq, p.connector, p.carrier_message_id, p.status, m.trunk_id, m.source, m.destination, m.status as message_status, m.final_status ' +
    'from message_parts as p join messages as m on m.id = p.message_id ' +
    `where p.message_id in (select message_id from message_parts where connector = ? and carrier_message_id in (${JSON_IDS}))`,
  partStatus: `update message_parts set status = ?, updated_at = ? where seq = ? and message_id in (${JSON_IDS})`,
  partCounts: `update messages set parts_delivered = ?, parts_failed = ?, updated_at = ? where id in (${JSON_IDS})`,
  final: `update messages set status = ?, final_status = ?, final_at = ?, updated_at = ?, parts_delivered = ?, parts_failed = ? where id in (${JSON_IDS}) and +status = 'submitted' and final_status is null returning id`,
};

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
