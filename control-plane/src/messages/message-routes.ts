import { Router } from 'express';
import { invalidInput } from '../errors';
import { pageLinks, queryString, readPage } from '../http/jsonapi';
import { send } from '../http/middleware';
import type { AuditLog } from '../audit/audit-log';
import type { MessageQueries } from '../sending/message-queries';

const STATUSES = ['accepted', 'submitted', 'failed', 'delivered', 'undeliverable', 'expired', 'rejected', 'deleted', 'unknown'];

const iso = (value: string | undefined, name: string): string | undefined => {
  if (value === undefined) return undefined;
  const t = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t)) throw invalidInput('PARAMETER_INVALID', `${name} must be an ISO-8601 time such as 2026-11-24T10:00:00Z`, undefined, { parameter: name });
  return new Date(t).toISOString();
};

/** Admin message log (/v1/messages) and callback replay (/v1/callbacks/{id}/replay). */
export function messageRoutes(queries: MessageQueries, audit: AuditLog, callbackMaxAgeMs: () => number, onReplay: () => void): { messages: Router; callbacks: Router } {
  const messages = Router();
  messages.get('/', async (req, res) => {
    const page = readPage(req);
    const status = queryString(req, 'filter[status]');
    if (status !== undefined && !STATUSES.includes(status)) {
      throw invalidInput('PARAMETER_INVALID', `filter[status] must be one of ${STATUSES.join(', ')}`, undefined, { parameter: 'filter[status]' });
    }
    const { items, total } = await queries.list(
      { trunkId: queryString(req, 'filter[trunk]'), status, since: iso(queryString(req, 'filter[since]'), 'filter[since]'), until: iso(queryString(req, 'filter[until]'), 'filter[until]') },
      page,
    );
    send(res, 200, { data: items, meta: { total }, links: pageLinks(req, page, total) });
  });
  messages.get('/:id', async (req, res) => {
    send(res, 200, { data: await queries.messageView(req.params.id, undefined, true) });
  });

  const callbacks = Router();
  callbacks.post('/:id/replay', async (req, res) => {
    await queries.replayCallback(req.params.id, callbackMaxAgeMs(), (trx) =>
      audit.record(trx, res.locals.actor, { action: 'callback.replay', resourceType: 'callbacks', resourceId: req.params.id }),
    );
    onReplay();
    res.status(202).type('application/vnd.api+json').send(JSON.stringify({ meta: { replayed: req.params.id } }));
  });
  return { messages, callbacks };
}
