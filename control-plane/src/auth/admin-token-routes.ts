import { Router } from 'express';
import { ErrorCollector } from '../errors';
import { readResource, rejectUnknownAttributes } from '../http/jsonapi';
import { send } from '../http/middleware';
import { AdminTokens } from './admin-tokens';

export function adminTokenRoutes(tokens: AdminTokens): Router {
  const r = Router();
  r.get('/', async (_req, res) => {
    send(res, 200, { data: (await tokens.list()).map(({ id, ...attributes }) => ({ type: 'admin_tokens', id, attributes })) });
  });
  r.post('/', async (req, res) => {
    const doc = readResource(req.body, 'admin_tokens');
    const errors = new ErrorCollector();
    rejectUnknownAttributes(doc.attributes, ['name'], [], errors);
    errors.throwIfAny();
    const { id, ...attributes } = await tokens.create(doc.attributes.name as string, res.locals.actor);
    res.setHeader('Cache-Control', 'no-store');
    send(res, 201, { data: { type: 'admin_tokens', id, attributes }, meta: { note: 'The token is shown only in this response; it is stored as a hash.' } });
  });
  r.delete('/:id', async (req, res) => {
    await tokens.revoke(req.params.id, res.locals.actor);
    res.status(204).end();
  });
  return r;
}
