import { Knex } from 'knex';
import { nowIso, onSqlite, sqliteRows } from '../db/database';
import { caseById, chunks, groupBy, insertChunks, Statement, together } from '../db/set-writes';
import type { CallbackRow } from './outbox';
import { classifyAttempt, nextAttemptAt, RetryPolicy } from './retry-policy';

/** One delivery attempt of a callback, as the worker hands it over to be recorded. */
export interface AttemptResult {
  /** What recording needs of the callback row (not its body). */
  row: Pick<CallbackRow, 'id' | 'kind' | 'attempts' | 'give_up_at'>;
  attemptedAt: string;
  durationMs: number;
  statusCode?: number;
  error?: string;
  retryAfter?: string;
}

export type Recorded = 'delivered' | 'retry' | 'dead';

/** What records attempts: a group-commit batcher, here or on the store thread. */
export interface AttemptRecorder {
  submit(attempt: AttemptResult): Promise<Recorded>;
  idle(): Promise<void>;
}

export interface RecordOptions {
  /** Only rows still leased to this instance are updated (the lease guards against a second sender). */
  instanceId: string;
  policy: RetryPolicy;
}

/**
 * Records a batch of attempts and says what became of each callback. Successes (nearly all of
 * them) are written set-wise: one UPDATE per status code, guarded by our lease, and one multi-row
 * INSERT of the attempts; failures compute their own next attempt and go row by row.
 */
export async function recordAttempts(trx: Knex.Transaction, items: AttemptResult[], opts: RecordOptions): Promise<Recorded[]> {
  const attempts: Array<Record<string, unknown>> = [];
  const delivered: AttemptResult[] = [];
  const out: Recorded[] = [];
  for (const r of items) {
    const outcome = classifyAttempt({ status: r.statusCode, error: r.error });
    let recorded: Recorded = 'delivered';
    if (outcome === 'success') delivered.push(r);
    else recorded = await recordFailure(trx, r, opts);
    out.push(recorded);
    attempts.push({ callback_id: r.row.id, attempted_at: r.attemptedAt, duration_ms: r.durationMs, status_code: r.statusCode ?? null, error: r.error ?? null, outcome: recorded });
  }
  const deliveredAt = nowIso();
  // One UPDATE per status code and the attempts' INSERT, side by side (see together).
  const writes: Statement[] = [];
  for (const group of groupBy(delivered, (r) => `${r.statusCode}`).values()) {
    for (const chunk of chunks(group)) {
      if (onSqlite(trx)) {
        const pairs = JSON.stringify(chunk.map((r) => [r.row.id, r.attemptedAt]));
        writes.push(() => sqliteRows(trx, DELIVERED_SQLITE, [deliveredAt, chunk[0]!.statusCode ?? null, pairs, opts.instanceId]));
        continue;
      }
      writes.push(() =>
        trx('callbacks')
          .whereIn('id', chunk.map((r) => r.row.id))
          .where({ lease_owner: opts.instanceId })
          .update({
            state: 'delivered',
            delivered_at: deliveredAt,
            attempts: trx.raw('attempts + 1'),
            // The first attempt's time, set once (a retried callback keeps the one it has).
            first_attempt_at: trx.raw('COALESCE(first_attempt_at, ?)', [caseById(trx, chunk.map((r) => [r.row.id, r.attemptedAt] as const))]),
            last_status_code: chunk[0]!.statusCode ?? null,
            last_error: null,
            lease_owner: null,
            lease_until: null,
          }),
      );
    }
  }
  await together(trx, [...writes, ...insertChunks(trx, 'callback_attempts', attempts)]);
  return out;
}

async function recordFailure(trx: Knex.Transaction, r: AttemptResult, opts: RecordOptions): Promise<'retry' | 'dead'> {
  const attempts = r.row.attempts + 1;
  // A replay moves give_up_at; the retry window is measured back from it, so a replayed callback gets a whole new window.
  const firstAttemptAt = new Date(Date.parse(r.row.give_up_at) - opts.policy.maxAgeMs);
  const next = nextAttemptAt({ policy: opts.policy, attempt: attempts, firstAttemptAt, now: new Date(), retryAfterHeader: r.retryAfter });
  const update = next && next.getTime() <= Date.parse(r.row.give_up_at) ? { state: 'pending', next_attempt_at: next.toISOString() } : { state: 'dead' };
  await trx('callbacks')
    .where({ id: r.row.id, lease_owner: opts.instanceId })
    .update({
      ...update,
      attempts,
      first_attempt_at: r.row.attempts === 0 ? r.attemptedAt : trx.raw('first_attempt_at'),
      last_status_code: r.statusCode ?? null,
      last_error: r.error ?? null,
      lease_owner: null,
      lease_until: null,
    });
  return update.state === 'dead' ? 'dead' : 'retry';
}

/** The delivered UPDATE above on SQLite, with the ids and attempt times as one JSON parameter (see sqliteRows). */
const DELIVERED_SQLITE =
  "update callbacks set state = 'delivered', delivered_at = ?, attempts = attempts + 1, first_attempt_at = coalesce(first_attempt_at, v.at), " +
  'last_status_code = ?, last_error = null, lease_owner = null, lease_until = null ' +
  "from (select json_extract(value, '$[0]') as callback_id, json_extract(value, '$[1]') as at from json_each(?)) as v " +
  'where callbacks.id = v.callback_id and callbacks.lease_owner = ?';
