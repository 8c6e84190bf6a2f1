import { Knex } from 'knex';
import { nowIso } from './database';

/**
 * Claims up to `limit` due rows for `owner`: rows in the pending state whose `next_attempt_at` has
 * come and whose lease is free or expired. The UPDATE repeats those conditions, so when two
 * instances race for the same rows each row goes to exactly one of them, on SQLite and PostgreSQL
 * alike; the final SELECT returns only the rows this call won.
 */
export async function claimDue<T>(
  knex: Knex,
  table: string,
  opts: { pending: Record<string, string>; owner: string; limit: number; leaseMs: number; columns?: string[] },
): Promise<T[]> {
  const now = nowIso();
  const due = (q: Knex.QueryBuilder) =>
    q
      .where(opts.pending)
      .where('next_attempt_at', '<=', now)
      .where((w) => w.whereNull('lease_until').orWhere('lease_until', '<', now));
  const ids: string[] = await due(knex(table)).orderBy('next_attempt_at').limit(opts.limit).pluck('id');
  if (ids.length === 0) return [];
  const leaseUntil = new Date(Date.now() + opts.leaseMs).toISOString();
  await due(knex(table).whereIn('id', ids)).update({ lease_owner: opts.owner, lease_until: leaseUntil });
  const won = await knex(table)
    .whereIn('id', ids)
    .where({ ...opts.pending, lease_owner: opts.owner, lease_until: leaseUntil })
    .select(opts.columns ?? ['*']);
  return won as T[];
}
