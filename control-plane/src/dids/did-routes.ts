import express, { Router } from 'express';
import { ErrorCollector, invalidInput } from '../errors';
import { pageLinks, queryString, readBoolParam, readPage, readResource, ResourceObject, short } from '../http/jsonapi';
import { assertCleanText, send } from '../http/middleware';
import { DidService, Did } from './did-service';
import { parseDidCsv } from './did-csv';
import { checkCapabilities, checkDescription, DID_CAPABILITIES } from './did-validation';

export function didResource(d: Did): ResourceObject {
  return {
    type: 'dids',
    id: d.number,
    attributes: { number: d.number, capabilities: d.capabilities, description: d.description, created_at: d.created_at, updated_at: d.updated_at },
    links: { self: `/v1/dids/${d.number}` },
  };
}

export function didRoutes(service: DidService): Router {
  const r = Router();

  r.get('/', async (req, res) => {
    const page = readPage(req);
    // A "+" typed into a URL arrives as a space; both are ignored in front of the digits.
    const number = queryString(req, 'filter[number]')?.trim().replace(/^\+/, '');
    if (number !== undefined && !/^\d{0,15}$/.test(number)) {
      throw invalidInput('PARAMETER_INVALID', `filter[number] must be digits, got ${short(number)}`, undefined, { parameter: 'filter[number]' });
    }
    const capability = queryString(req, 'filter[capability]');
    if (capability !== undefined && !(DID_CAPABILITIES as readonly string[]).includes(capability)) {
      throw invalidInput('PARAMETER_INVALID', `filter[capability] must be one of ${DID_CAPABILITIES.join(', ')}`, undefined, { parameter: 'filter[capability]' });
    }
    const { items, total } = await service.list({ number, capability }, page);
    send(res, 200, { data: items.map(didResource), meta: { total }, links: pageLinks(req, page, total) });
  });

  r.post('/', async (req, res) => {
    const doc = readResource(req.body, 'dids');
    const errors = new ErrorCollector();
    const input = DidService.parseInput(doc.attributes, '/data/attributes', errors, doc.id);
    if (doc.id !== undefined && doc.attributes.number !== undefined && doc.id !== doc.attributes.number) {
      errors.add('DID_ID_MISMATCH', 'data.id and attributes.number must be the same number', '/data/id');
    }
    errors.throwIfAny();
    const did = await service.create(input!, res.locals.actor);
    res.setHeader('Location', `/v1/dids/${did.number}`);
    send(res, 201, { data: didResource(did) });
  });

  // CSV (text/csv) or JSON:API ({"data": [{"type": "dids", "attributes": {...}}, ...]}); all-or-nothing.
  r.post('/import', express.text({ type: ['text/csv', 'text/plain'], limit: '20mb', verify: (_req, _res, buf) => assertCleanText(buf) }), async (req, res) => {
    let rows: Array<Record<string, unknown>>;
    if (typeof req.body === 'string') {
      rows = parseDidCsv(req.body);
    } else {
      const data = (req.body as { data?: unknown })?.data;
      if (!Array.isArray(data)) throw invalidInput('DATA_MISSING', 'The document must have a "data" array of dids resources (or send text/csv)', '/data');
      const errors = new ErrorCollector();
      rows = data.map((item: any, i: number) => {
        if (item?.type !== 'dids') errors.add('TYPE_INVALID', `type is invalid: expected "dids"`, `/data/${i}/type`);
        const attrs = item?.attributes && typeof item.attributes === 'object' && !Array.isArray(item.attributes) ? { ...item.attributes } : {};
        if (attrs.number === undefined && typeof item?.id === 'string') attrs.number = item.id;
        return attrs;
      });
      errors.throwIfAny();
    }
    const result = await service.import(rows, res.locals.actor, { force: readBoolParam(req, 'force') });
    send(res, 200, { meta: { rows: rows.length, ...result } });
  });

  r.get('/:number', async (req, res) => {
    send(res, 200, { data: didResource(await service.get(req.params.number)) });
  });

  r.patch('/:number', async (req, res) => {
    const doc = readResource(req.body, 'dids');
    const errors = new ErrorCollector();
    if (doc.id !== undefined && doc.id !== req.params.number) errors.add('ID_MISMATCH', 'data.id must match the number in the URL', '/data/id');
    const a = doc.attributes;
    if (a.number !== undefined && a.number !== req.params.number) errors.add('DID_NUMBER_IMMUTABLE', 'A DID number cannot change; create a new DID instead', '/data/attributes/number');
    const capabilities = a.capabilities === undefined ? undefined : checkCapabilities(a.capabilities, '/data/attributes/capabilities', errors);
    const description = a.description === undefined ? undefined : checkDescription(a.description, '/data/attributes/description', errors);
    for (const key of Object.keys(a)) {
      if (!['number', 'capabilities', 'description', 'created_at', 'updated_at'].includes(key)) {
        errors.add('ATTRIBUTE_UNKNOWN', `Unknown attribute "${key}"; allowed: capabilities, description`, `/data/attributes/${key}`);
      }
    }
    errors.throwIfAny();
    const did = await service.update(req.params.number, { capabilities, description }, res.locals.actor, { force: readBoolParam(req, 'force') });
    send(res, 200, { data: didResource(did) });
  });

  r.delete('/:number', async (req, res) => {
    await service.delete(req.params.number, res.locals.actor, { force: readBoolParam(req, 'force') });
    res.status(204).end();
  });

  return r;
}
