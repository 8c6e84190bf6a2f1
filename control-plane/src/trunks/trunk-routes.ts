import { Request, Response, Router } from 'express';
import { invalidInput } from '../errors';
import { pageLinks, queryString, readBoolParam, readPage, readResource, ResourceObject, short } from '../http/jsonapi';
import { send } from '../http/middleware';
import { parseIfMatch, parseTrunkSpec, Trunk, TrunkService, UpsertKey } from './trunk-service';

export function trunkResource(t: Trunk, baseUrl: string): ResourceObject {
  return {
    type: 'sms_trunks',
    id: t.id,
    attributes: {
      name: t.name,
      callback_url: t.callback_url,
      allowed_ips: t.allowed_ips,
      allow_any_did_as_source: t.allow_any_did_as_source,
      dlr_events: t.dlr_events,
      blocked: t.blocked,
      external_reference_id: t.external_reference_id,
      rate_limit_per_second: t.rate_limit_per_second,
      managed_by: t.managed_by,
      managed_spec_hash: t.managed_spec_hash,
      username: t.username,
      version: t.version,
      created_at: t.created_at,
      updated_at: t.updated_at,
    },
    relationships: {
      outgoing_dids: { data: t.outgoing_dids.map((id) => ({ type: 'dids', id })) },
      outgoing_did_sets: { data: t.outgoing_did_sets.map((id) => ({ type: 'did_sets', id })) },
    },
    links: { self: `/v1/sms_trunks/${t.id}`, credentials: `/v1/sms_trunks/${t.id}/credentials` },
    meta: { version: t.version, host: `${baseUrl}/outbound_messages` },
  };
}

const SORTS = ['name', '-name', 'created_at', '-created_at', 'updated_at', '-updated_at'];

export function trunkRoutes(service: TrunkService, baseUrl: (req: Request) => string): Router {
  const r = Router();
  const reply = (req: Request, res: Response, status: number, t: Trunk, meta?: Record<string, unknown>) => {
    res.setHeader('ETag', `"${t.version}"`);
    const resource = trunkResource(t, baseUrl(req));
    send(res, status, meta ? { data: resource, meta } : { data: resource });
  };

  r.get('/', async (req, res) => {
    const page = readPage(req);
    const sort = queryString(req, 'sort');
    if (sort !== undefined && !SORTS.includes(sort)) {
      throw invalidInput('PARAMETER_INVALID', `sort must be one of ${SORTS.join(', ')}, got ${short(sort)}`, undefined, { parameter: 'sort' });
    }
    const { items, total } = await service.list(
      {
        name: queryString(req, 'filter[name]'),
        externalReferenceId: queryString(req, 'filter[external_reference_id]'),
        search: queryString(req, 'filter[q]'),
        sort,
      },
      page,
    );
    send(res, 200, { data: items.map((t) => trunkResource(t, baseUrl(req))), meta: { total }, links: pageLinks(req, page, total) });
  });

  r.post('/', async (req, res) => {
    const doc = readResource(req.body, 'sms_trunks');
    const trunk = await service.create(parseTrunkSpec(doc), res.locals.actor);
    res.setHeader('Location', `/v1/sms_trunks/${trunk.id}`);
    reply(req, res, 201, trunk);
  });

  const upsert = (keyOf: (value: string) => UpsertKey, attr: 'name' | 'external_reference_id') => async (req: Request, res: Response) => {
    const doc = readResource(req.body, 'sms_trunks');
    const value = String(req.params.key);
    // The URL names the trunk; the body may repeat it but must not contradict it.
    if (doc.attributes[attr] !== undefined && (typeof doc.attributes[attr] !== 'string' || (doc.attributes[attr] as string).trim() !== value.trim())) {
      throw invalidInput('KEY_MISMATCH', `attributes.${attr} must be ${JSON.stringify(value)} (as in the URL) or left out`, `/data/attributes/${attr}`);
    }
    doc.attributes[attr] = value;
    const spec = parseTrunkSpec(doc);
    const key = keyOf(attr === 'name' ? spec.name : value);
    const result = await service.upsert(key, spec, res.locals.actor, { force: readBoolParam(req, 'force') });
    if (result.created) res.setHeader('Location', `/v1/sms_trunks/${result.trunk.id}`);
    reply(req, res, result.created ? 201 : 200, result.trunk, { changed: result.changed, created: result.created, version: result.trunk.version });
  };
  r.put('/by-name/:key', upsert((name) => ({ name }), 'name'));
  r.put('/by-external-reference/:key', upsert((ref) => ({ external_reference_id: ref }), 'external_reference_id'));

  // Conditional delete for reconcilers: removes the trunk only while it still carries this spec hash.
  r.delete('/by-external-reference/:key', async (req, res) => {
    const hash = queryString(req, 'if_managed_spec_hash');
    if (!hash) throw invalidInput('PARAMETER_INVALID', 'if_managed_spec_hash is required: the hash the deleting stack applied', undefined, { parameter: 'if_managed_spec_hash' });
    const result = await service.deleteIfSpec({ external_reference_id: String(req.params.key) }, hash, res.locals.actor);
    send(res, 200, { meta: result });
  });

  r.get('/:id', async (req, res) => reply(req, res, 200, await service.get(req.params.id)));

  r.patch('/:id', async (req, res) => {
    const doc = readResource(req.body, 'sms_trunks');
    if (doc.id !== undefined && doc.id !== req.params.id) throw invalidInput('ID_MISMATCH', 'data.id must match the id in the URL', '/data/id');
    const trunk = await service.update(req.params.id, doc, res.locals.actor, { ifMatch: parseIfMatch(req.get('If-Match')), force: readBoolParam(req, 'force') });
    reply(req, res, 200, trunk);
  });

  r.delete('/:id', async (req, res) => {
    await service.delete(req.params.id, res.locals.actor, { ifMatch: parseIfMatch(req.get('If-Match')), force: readBoolParam(req, 'force') });
    res.status(204).end();
  });

  return r;
}
