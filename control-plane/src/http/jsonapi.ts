import type { ServerResponse } from 'node:http';
import type { Request } from 'express';
import { ErrorCollector, invalidInput } from '../errors';

export const JSONAPI_MEDIA_TYPE = 'application/vnd.api+json';

/**
 * Writes a JSON:API document with `Content-Type: application/vnd.api+json` and no media type
 * parameters (JSON:API forbids them; Express's res.send would add `charset=utf-8`). Headers set
 * earlier with setHeader are kept. Headers and body leave in one write.
 */
export function writeJsonApi(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': JSONAPI_MEDIA_TYPE, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export interface ResourceObject {
  type: string;
  id: string;
  attributes?: Record<string, unknown>;
  relationships?: Record<string, { data: ResourceIdentifier | ResourceIdentifier[] | null }>;
  links?: Record<string, string>;
  meta?: Record<string, unknown>;
}

export interface ResourceIdentifier {
  type: string;
  id: string;
}

export interface IncomingResource {
  id?: string;
  attributes: Record<string, unknown>;
  relationships: Record<string, unknown>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads `{ data: { type, id?, attributes, relationships } }` and checks its frame; attribute
 * values are checked by each feature's validator. Throws 400 with pointers.
 */
export function readResource(body: unknown, type: string, opts: { allowEmpty?: boolean } = {}): IncomingResource {
  if (body === undefined || body === null || (isPlainObject(body) && Object.keys(body).length === 0)) {
    if (opts.allowEmpty) return { attributes: {}, relationships: {} };
    throw invalidInput('DOCUMENT_MISSING', 'The request body must be a JSON:API document: {"data": {...}}', '');
  }
  if (!isPlainObject(body)) throw invalidInput('DOCUMENT_INVALID', 'The request body must be a JSON object', '');
  const data = body.data;
  if (!isPlainObject(data)) throw invalidInput('DATA_MISSING', 'The document must have a "data" object', '/data');
  const errors = new ErrorCollector();
  if (data.type !== type) errors.add('TYPE_INVALID', `type is invalid: expected "${type}", got ${JSON.stringify(data.type ?? null)}`, '/data/type');
  if (data.id !== undefined && typeof data.id !== 'string') errors.add('ID_INVALID', 'id must be a string', '/data/id');
  if (data.attributes !== undefined && !isPlainObject(data.attributes)) errors.add('ATTRIBUTES_INVALID', 'attributes must be an object', '/data/attributes');
  if (data.relationships !== undefined && !isPlainObject(data.relationships)) errors.add('RELATIONSHIPS_INVALID', 'relationships must be an object', '/data/relationships');
  for (const key of Object.keys(data)) {
    if (!['type', 'id', 'attributes', 'relationships', 'meta', 'links'].includes(key)) {
      errors.add('MEMBER_UNKNOWN', `"${key}" is not a member of a JSON:API resource object`, `/data/${escapePointer(key)}`);
    }
  }
  errors.throwIfAny();
  return {
    id: data.id as string | undefined,
    attributes: (data.attributes as Record<string, unknown>) ?? {},
    relationships: (data.relationships as Record<string, unknown>) ?? {},
  };
}

/** Reads a to-many relationship `{ data: [{type, id}, ...] }` and returns its ids. */
export function readToMany(
  rel: unknown,
  name: string,
  type: string,
  errors: ErrorCollector,
): string[] | undefined {
  if (rel === undefined) return undefined;
  const base = `/data/relationships/${name}`;
  if (!isPlainObject(rel) || !Array.isArray(rel.data)) {
    errors.add('RELATIONSHIP_INVALID', `${name} must be {"data": [{"type": "${type}", "id": "..."}]}`, `${base}/data`);
    return undefined;
  }
  const ids: string[] = [];
  rel.data.forEach((item, i) => {
    if (!isPlainObject(item) || item.type !== type || typeof item.id !== 'string' || item.id === '') {
      errors.add('RELATIONSHIP_INVALID', `${name}[${i}] must be {"type": "${type}", "id": "<id>"}, got ${short(item)}`, `${base}/data/${i}`);
      return;
    }
    ids.push(item.id);
  });
  return ids;
}

export function rejectUnknownAttributes(
  attrs: Record<string, unknown>,
  known: readonly string[],
  readOnly: readonly string[],
  errors: ErrorCollector,
): void {
  for (const key of Object.keys(attrs)) {
    if (readOnly.includes(key)) continue; // read-only values from a GET are ignored, so a GET body can be sent back
    if (!known.includes(key)) {
      errors.add('ATTRIBUTE_UNKNOWN', `Unknown attribute "${key}"; allowed: ${known.join(', ')}`, `/data/attributes/${escapePointer(key)}`);
    }
  }
}

export function rejectUnknownRelationships(rels: Record<string, unknown>, known: readonly string[], errors: ErrorCollector): void {
  for (const key of Object.keys(rels)) {
    if (!known.includes(key)) {
      errors.add('RELATIONSHIP_UNKNOWN', `Unknown relationship "${key}"; allowed: ${known.join(', ') || 'none'}`, `/data/relationships/${escapePointer(key)}`);
    }
  }
}

export const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

export function short(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    // JSON.stringify throws on values nested deeper than the stack (a hostile body); String() of
    // such an array recurses just as deep, so only the kind of value is shown.
    s = Array.isArray(v) ? '[…]' : typeof v === 'object' && v !== null ? '{…}' : String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Query parameters are read raw: Express 5's default "simple" parser keeps `page[number]` as a key. */
export function queryString(req: Request, key: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidInput('PARAMETER_INVALID', `Query parameter ${key} must be given once`, undefined, { parameter: key });
  return v;
}

export interface Page {
  number: number;
  size: number;
}

export const MAX_PAGE_SIZE = 1000;

export function readPage(req: Request, defaultSize = 50): Page {
  const read = (key: string, def: number, max: number): number => {
    const raw = queryString(req, key);
    if (raw === undefined) return def;
    if (!/^[1-9]\d{0,6}$/.test(raw) || Number(raw) > max) {
      throw invalidInput('PARAMETER_INVALID', `${key} must be a whole number from 1 to ${max}, got ${short(raw)}`, undefined, { parameter: key });
    }
    return Number(raw);
  };
  return { number: read('page[number]', 1, 1_000_000), size: read('page[size]', defaultSize, MAX_PAGE_SIZE) };
}

/** Builds `links` for a paged collection, keeping the request's other query parameters. */
export function pageLinks(req: Request, page: Page, total: number): Record<string, string | null> {
  const last = Math.max(1, Math.ceil(total / page.size));
  const make = (n: number): string => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query as Record<string, unknown>)) {
      if (k === 'page[number]' || k === 'page[size]') continue;
      if (typeof v === 'string') params.append(k, v);
    }
    params.set('page[number]', String(n));
    params.set('page[size]', String(page.size));
    return `${req.baseUrl}${req.path === '/' ? '' : req.path}?${params.toString()}`;
  };
  return {
    self: make(page.number),
    first: make(1),
    prev: page.number > 1 ? make(Math.min(page.number - 1, last)) : null,
    next: page.number < last ? make(page.number + 1) : null,
    last: make(last),
  };
}

export function readBoolParam(req: Request, key: string): boolean {
  const raw = queryString(req, key);
  if (raw === undefined || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1' || raw === '') return true;
  throw invalidInput('PARAMETER_INVALID', `${key} must be true or false, got ${short(raw)}`, undefined, { parameter: key });
}
