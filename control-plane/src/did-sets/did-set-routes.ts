import { Request, Response, Router } from 'express';
import { invalidInput } from '../errors';
import { pageLinks, queryString, readBoolParam, readPage, readResource, ResourceObject } from '../http/jsonapi';
import { send } from '../http/middleware';
import { parseIfMatch } from '../trunks/trunk-service';
import { DidSet, DidSetService, parseDidSetSpec } from './did-set-service';

export function didSetResource(s: DidSet): ResourceObject {
  return {
    type: 'did_sets',
    id: s.id,
    attributes: {
      name: s.name,
      did_count: s.dids.length,
      managed_by: s.managed_by,
      managed_spec_hash: s.managed_spec_hash,
      version: s.version,
      created_at: s.created_at,
      updated_at: s.updated_at,
    },
    relationships: { dids: { data: s.dids.map((id) => ({ type: 'dids', id })) } },
    links: { self: `/v1/did_sets/${s.id}` },
    meta: { version: s.version },
  };
}

export function didSetRoutes(service: DidSetService): Router {
  const r = Router();
  const reply = (res: Response, status: number, s: DidSet, meta?: Record<string, unknown>) => {
    res.setHeader('ETag', `"${s.version}"`);
    send(res, status, meta ? { data: didSetResource(s), meta } : { data: didSetResource(s) });
  };

  r.get('/', async (req, res) => {
    const page = readPage(req);
    const { items, total } = await service.list({ name: queryString(req, 'filter[name]') }, page);
    send(res, 200, { data: items.map(didSetResource), meta: { total }, links: pageLinks(req, page, total) });
  });

  r.post('/', async (req, res) => {
    const set = await service.create(parseDidSetSpec(readResource(req.body, 'did_sets')), res.locals.actor);
    res.setHeader('Location', `/v1/did_sets/${set.id}`);
    reply(res, 201, set);
  });

  r.put('/by-name/:name', async (req: Request, res: Response) => {
    const doc = readResource(req.body, 'did_sets');
    const name = String(req.params.name);
    if (doc.attributes.name !== undefined && doc.attributes.name !== name) {
      throw invalidInput('KEY_MISMATCH', `attributes.name must be ${JSON.stringify(name)} (as in the URL) or left out`, '/data/attributes/name');
    }
    doc.attributes.name = name;
    const result = await service.upsertByName(parseDidSetSpec(doc), res.locals.actor, readBoolParam(req, 'force'));
    if (result.created) res.setHeader('Location', `/v1/did_sets/${result.set.id}`);
    reply(res, result.created ? 201 : 200, result.set, { changed: result.changed, created: result.created, version: result.set.version });
  });

  // Conditional delete for reconcilers: removes the set only while it still carries this spec hash.
  r.delete('/by-name/:name', async (req, res) => {
    const hash = queryString(req, 'if_managed_spec_hash');
    if (!hash) throw invalidInput('PARAMETER_INVALID', 'if_managed_spec_hash is required: the hash the deleting stack applied', undefined, { parameter: 'if_managed_spec_hash' });
    send(res, 200, { meta: await service.deleteIfSpec(String(req.params.name), hash, res.locals.actor) });
  });

  r.get('/:id', async (req, res) => reply(res, 200, await service.get(req.params.id)));

  r.patch('/:id', async (req, res) => {
    const doc = readResource(req.body, 'did_sets');
    if (doc.id !== undefined && doc.id !== req.params.id) throw invalidInput('ID_MISMATCH', 'data.id must match the id in the URL', '/data/id');
    reply(res, 200, await service.update(req.params.id, doc, res.locals.actor, parseIfMatch(req.get('If-Match')), readBoolParam(req, 'force')));
  });

  r.delete('/:id', async (req, res) => {
    await service.delete(req.params.id, res.locals.actor, parseIfMatch(req.get('If-Match')), readBoolParam(req, 'force'));
    res.status(204).end();
  });

  return r;
}
