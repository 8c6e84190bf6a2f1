import { Router } from 'express';
import { invalidInput } from '../errors';
import { pageLinks, queryString, readPage } from '../http/jsonapi';
import { send } from '../http/middleware';
import { AuditLog } from './audit-log';

const isoOrUndefined = (value: string | undefined, name: string): string | undefined => {
  if (value === undefined) return undefined;
  const t = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t)) throw invalidInput('PARAMETER_INVALID', `${name} must be an ISO-8601 time such as 2026-11-24T10:00:00Z`, undefined, { parameter: name });
  return new Date(t).toISOString();
};

export function auditRoutes(audit: AuditLog): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const page = readPage(req);
    const { items, total } = await audit.list(
      {
        resourceType: queryString(req, 'filter[resource_type]'),
        resourceId: queryString(req, 'filter[resource_id]'),
        action: queryString(req, 'filter[action]'),
        actor: queryString(req, 'filter[actor]'),
        since: isoOrUndefined(queryString(req, 'filter[since]'), 'filter[since]'),
        until: isoOrUndefined(queryString(req, 'filter[until]'), 'filter[until]'),
      },
      page,
    );
    send(res, 200, {
      data: items.map(({ id, ...attributes }) => ({ type: 'audit_events', id, attributes })),
      meta: { total },
      links: pageLinks(req, page, total),
    });
  });
  return r;
}
