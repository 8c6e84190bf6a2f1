import { expect } from 'chai';
import express from 'express';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OPENAPI_PATH } from '../../control-plane/src/http/app';
import { listRoutes, toOpenApiTemplate } from '../../control-plane/src/http/route-inventory';
import { verifyCallback } from '../../control-plane/src/callbacks/signing';
import { CallbackReceiver, ReceivedCallback } from '../support/callback-receiver';
import { ApiResponse, doc, rel, startTestPlatform, TestPlatform } from '../support/platform';
import { basic } from '../support/send-client';

/*
 * The OpenAPI document is checked against the running app from three sides: the routes Express
 * declares (router.listRoutes), real requests to every documented operation, and a walk through
 * the API whose every request and response is validated against the documented schemas.
 * The structural checks and the schema validator are hand-written (no new dependencies); they
 * cover the subset of OpenAPI 3.1 / JSON Schema 2020-12 the document uses and refuse any keyword
 * they do not understand, so a new keyword cannot be silently ignored.
 */

type Json = any;
const JSONAPI = 'application/vnd.api+json';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

const openapiText = fs.readFileSync(OPENAPI_PATH, 'utf8');
const openapi: Json = JSON.parse(openapiText);

// ------------------------------------------------------------------ document helpers

function resolvePointer(root: Json, ref: string): Json {
  if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`);
  let node = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
    node = node[key];
  }
  return node;
}

/** Follows a chain of `{ $ref }` objects (parameters, responses, request bodies, headers). */
function deref(root: Json, node: Json): Json {
  const seen = new Set<string>();
  while (node && typeof node === 'object' && typeof node.$ref === 'string') {
    if (seen.has(node.$ref)) throw new Error(`$ref cycle at ${node.$ref}`);
    seen.add(node.$ref);
    node = resolvePointer(root, node.$ref);
  }
  return node;
}

function* refsIn(node: Json, at = '#'): Generator<{ at: string; ref: string }> {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) yield* refsIn(node[i], `${at}/${i}`);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') yield { at, ref: v };
      else yield* refsIn(v, `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    }
  }
}

interface Operation {
  /** The path template, or the webhook's name for `webhooks`. */
  path: string;
  method: string;
  item: Json;
  op: Json;
  /** Path-item and operation parameters, dereferenced; an operation's own entry wins on (name, in). */
  params: Json[];
}

/** The operations under `paths` (served by the app) or under `webhooks` (requests the platform sends). */
function operationsOf(root: Json, section: 'paths' | 'webhooks' = 'paths'): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<Json>(root[section] ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const own = (op.parameters ?? []).map((p: Json) => deref(root, p));
      const inherited = (item.parameters ?? []).map((p: Json) => deref(root, p)).filter((p: Json) => !own.some((o: Json) => o?.name === p?.name && o?.in === p?.in));
      out.push({ path, method, item, op, params: [...inherited, ...own] });
    }
  }
  return out;
}

/** `/v1/sms_trunks/{id}` and `/v1/sms_trunks/{key}` are the same route; only names differ. */
const shape = (path: string) => path.replace(/\{[^}]+\}/g, '{}');

/** Every problem that makes the document invalid OpenAPI 3.1 (for the parts this project uses). */
function structuralProblems(root: Json): string[] {
  const problems: string[] = [];
  if (typeof root.openapi !== 'string' || !/^3\.1\.\d+$/.test(root.openapi)) problems.push(`openapi must be 3.1.x, got ${JSON.stringify(root.openapi)}`);
  if (typeof root.info?.title !== 'string' || typeof root.info?.version !== 'string') problems.push('info.title and info.version must be strings');
  if (!root.paths || typeof root.paths !== 'object') problems.push('paths must be an object');
  if (root.webhooks !== undefined && (typeof root.webhooks !== 'object' || root.webhooks === null)) problems.push('webhooks must be an object');

  for (const { at, ref } of refsIn(root)) {
    if (!ref.startsWith('#/')) problems.push(`${at}: $ref ${ref} is not local`);
    else if (resolvePointer(root, ref) === undefined) problems.push(`${at}: $ref ${ref} does not resolve`);
  }

  const schemes = Object.keys(root.components?.securitySchemes ?? {});
  const tags = new Set((root.tags ?? []).map((t: Json) => t.name));
  const checkSecurity = (where: string, security: Json) => {
    for (const req of security ?? []) {
      for (const name of Object.keys(req)) if (!schemes.includes(name)) problems.push(`${where}: security scheme ${name} is not defined`);
    }
  };
  checkSecurity('security', root.security);

  const shapes = new Map<string, string>();
  for (const path of Object.keys(root.paths ?? {})) {
    if (!path.startsWith('/')) problems.push(`path ${path} must start with /`);
    const other = shapes.get(shape(path));
    if (other) problems.push(`paths ${other} and ${path} differ only in parameter names, which OpenAPI forbids`);
    shapes.set(shape(path), path);
  }

  const operationIds = new Map<string, string>();
  const operations = [...operationsOf(root).map((o) => ({ ...o, webhook: false })), ...operationsOf(root, 'webhooks').map((o) => ({ ...o, webhook: true }))];
  for (const { path, method, item, op, params, webhook } of operations) {
    const where = webhook ? `webhook ${path} ${method.toUpperCase()}` : `${method.toUpperCase()} ${path}`;
    if (typeof op.operationId !== 'string' || op.operationId === '') problems.push(`${where}: operationId is missing`);
    else if (operationIds.has(op.operationId)) problems.push(`${where}: operationId ${op.operationId} is also used by ${operationIds.get(op.operationId)}`);
    else operationIds.set(op.operationId, where);

    const responses = op.responses ?? {};
    if (Object.keys(responses).length === 0) problems.push(`${where}: no responses`);
    for (const [code, response] of Object.entries<Json>(responses)) {
      if (!/^([1-5][0-9]{2}|[1-5]XX|default)$/.test(code)) problems.push(`${where}: response key ${code} is not a status code`);
      const resolved = deref(root, response);
      if (typeof resolved?.description !== 'string') problems.push(`${where} ${code}: response needs a description`);
      for (const [mt, media] of Object.entries<Json>(resolved?.content ?? {})) if (!media.schema) problems.push(`${where} ${code} ${mt}: no schema`);
    }

    const body = op.requestBody && deref(root, op.requestBody);
    if (op.requestBody && (!body?.content || Object.keys(body.content).length === 0)) problems.push(`${where}: requestBody has no content`);

    for (const list of [item.parameters ?? [], op.parameters ?? []]) {
      const keys = list.map((p: Json) => deref(root, p)).map((p: Json) => `${p?.in}:${p?.name}`);
      for (const key of new Set<string>(keys)) if (keys.filter((k: string) => k === key).length > 1) problems.push(`${where}: parameter ${key} is declared twice`);
    }
    for (const param of params) {
      if (!param || typeof param.name !== 'string' || !['query', 'header', 'path', 'cookie'].includes(param.in)) {
        problems.push(`${where}: parameter ${JSON.stringify(param)} needs a name and an "in"`);
        continue;
      }
      if (param.in === 'path' && param.required !== true) problems.push(`${where}: path parameter ${param.name} must be required`);
      if (!param.schema && !param.content) problems.push(`${where}: parameter ${param.name} needs a schema`);
    }
    // A webhook's key is a name, not a path; it has no path parameters.
    const templated = webhook ? [] : [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    const declared = params.filter((p) => p?.in === 'path').map((p) => p.name);
    for (const name of templated) if (!declared.includes(name)) problems.push(`${where}: path parameter {${name}} is not declared`);
    for (const name of declared) if (!templated.includes(name)) problems.push(`${where}: path parameter ${name} is not in the path`);

    if (op.security) checkSecurity(where, op.security);
    for (const tag of op.tags ?? []) if (!tags.has(tag)) problems.push(`${where}: tag ${tag} is not listed in tags`);
  }

  // Unused components are leftovers from removed routes; they make the document lie about the API.
  const used = new Set([...refsIn({ ...root, components: undefined })].map((r) => r.ref));
  let grew = true;
  while (grew) {
    grew = false;
    for (const ref of [...used]) {
      for (const inner of refsIn(resolvePointer(root, ref))) {
        if (!used.has(inner.ref)) {
          used.add(inner.ref);
          grew = true;
        }
      }
    }
  }
  for (const [kind, entries] of Object.entries<Json>(root.components ?? {})) {
    if (kind === 'securitySchemes') continue;
    for (const name of Object.keys(entries)) if (!used.has(`#/components/${kind}/${name}`)) problems.push(`components.${kind}.${name} is never referenced`);
  }
  return problems;
}

// ------------------------------------------------------------------ a small JSON Schema validator

const SCHEMA_KEYWORDS = new Set([
  '$ref', 'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', 'allOf', 'anyOf', 'oneOf',
  'minItems', 'maxItems', 'uniqueItems', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum', 'minProperties',
  'maxProperties', 'format', 'description', 'examples', 'default', 'readOnly', 'title',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  if (type === 'integer') return Number.isInteger(value);
  return typeOf(value) === type;
}

/** Returns every way `value` fails `schema`, as "<path>: <problem>"; empty when it conforms. */
function schemaProblems(root: Json, schema: Json, value: unknown, at = '$'): string[] {
  if (schema === true || schema === undefined) return [];
  if (schema === false) return [`${at}: no value is allowed here`];
  const out: string[] = [];
  for (const key of Object.keys(schema)) if (!SCHEMA_KEYWORDS.has(key)) throw new Error(`the test's validator does not know the keyword "${key}" (at ${at}); teach it before using it`);

  if (schema.$ref) out.push(...schemaProblems(root, resolvePointer(root, schema.$ref), value, at));
  if (schema.type !== undefined) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => hasType(value, t))) out.push(`${at}: expected ${types.join(' or ')}, got ${typeOf(value)} ${JSON.stringify(value)?.slice(0, 80)}`);
  }
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) out.push(`${at}: expected ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
  if (schema.enum && !schema.enum.some((e: Json) => JSON.stringify(e) === JSON.stringify(value))) out.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  for (const sub of schema.allOf ?? []) out.push(...schemaProblems(root, sub, value, at));
  if (schema.anyOf && !schema.anyOf.some((sub: Json) => schemaProblems(root, sub, value, at).length === 0)) out.push(`${at}: matches none of anyOf`);
  if (schema.oneOf) {
    const n = schema.oneOf.filter((sub: Json) => schemaProblems(root, sub, value, at).length === 0).length;
    if (n !== 1) out.push(`${at}: matches ${n} of oneOf, expected exactly 1`);
  }

  if (typeof value === 'string') {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) out.push(`${at}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && length > schema.maxLength) out.push(`${at}: longer than ${schema.maxLength}`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) out.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    if (schema.format === 'date-time' && !(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) && !Number.isNaN(Date.parse(value)))) {
      out.push(`${at}: ${JSON.stringify(value)} is not an RFC 3339 date-time`);
    }
    if (schema.format === 'uuid' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) out.push(`${at}: ${JSON.stringify(value)} is not a UUID`);
  }
  if (schema.format !== undefined && !['date-time', 'uuid'].includes(schema.format)) throw new Error(`the test's validator does not know format "${schema.format}"`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) out.push(`${at}: ${value} is below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) out.push(`${at}: ${value} is above ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.push(`${at}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) out.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) out.push(`${at}: items are not unique`);
    if (schema.items !== undefined) value.forEach((v, i) => out.push(...schemaProblems(root, schema.items, v, `${at}[${i}]`)));
  }
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (schema.minProperties !== undefined && keys.length < schema.minProperties) out.push(`${at}: fewer than ${schema.minProperties} members`);
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) out.push(`${at}: more than ${schema.maxProperties} members`);
    for (const name of schema.required ?? []) if (!(name in obj)) out.push(`${at}: member "${name}" is missing`);
    for (const key of keys) {
      const sub = schema.properties?.[key];
      if (sub !== undefined) out.push(...schemaProblems(root, sub, obj[key], `${at}.${key}`));
      else if (schema.additionalProperties !== undefined) out.push(...schemaProblems(root, schema.additionalProperties, obj[key], `${at}.${key}`).map((p) => (schema.additionalProperties === false ? `${at}: member "${key}" is not documented` : p)));
    }
  }
  return out;
}

const mediaTypeOf = (contentType: string | null) => (contentType ?? '').split(';')[0]!.trim().toLowerCase();

/** Checks one real response against the document: status listed, media type listed, body and headers as described. */
function responseProblems(root: Json, res: ApiResponse, method: string, template: string): string[] {
  const op = root.paths?.[template]?.[method.toLowerCase()];
  if (!op) return [`${method} ${template} is not documented`];
  const where = `${method} ${template} → ${res.status}`;
  const response = deref(root, op.responses?.[String(res.status)]);
  if (!response) return [`${where}: status ${res.status} is not documented (body ${res.text.slice(0, 300)})`];
  const out: string[] = [];
  const content = response.content as Record<string, Json> | undefined;
  if (!content) {
    if (res.text !== '') out.push(`${where}: documented without a body, got ${res.text.slice(0, 100)}`);
  } else {
    const mt = mediaTypeOf(res.headers.get('content-type'));
    const media = content[mt];
    if (!media) out.push(`${where}: media type ${mt} is not documented (documented: ${Object.keys(content).join(', ')})`);
    else if (mt === 'text/html') {
      if (!res.text.startsWith('<!doctype html>')) out.push(`${where}: not an HTML page`);
    } else if (mt === 'text/plain') {
      if (typeof res.text !== 'string' || res.text === '') out.push(`${where}: empty text body`);
    } else {
      let body: unknown;
      try {
        body = JSON.parse(res.text);
      } catch {
        out.push(`${where}: body is not JSON`);
      }
      if (body !== undefined) out.push(...schemaProblems(root, media.schema, body).map((p) => `${where}: ${p}`));
    }
  }
  for (const [name, header] of Object.entries<Json>(response.headers ?? {})) {
    const value = res.headers.get(name);
    const resolved = deref(root, header);
    if (value === null) {
      // Stricter than OpenAPI (where headers are optional by default): a documented header must be
      // sent unless the document says `"required": false`, as for Idempotent-Replayed.
      if (resolved.required !== false) out.push(`${where}: documented header ${name} is missing`);
      continue;
    }
    out.push(...schemaProblems(root, resolved.schema, value).map((p) => `${where}: header ${name} ${p}`));
  }
  return out;
}

/** Checks one request the platform sent to a callback receiver against `webhooks.<name>.post`: header parameters and body. */
function webhookProblems(root: Json, name: string, cb: ReceivedCallback): string[] {
  const op = root.webhooks?.[name]?.post;
  if (!op) return [`webhook ${name} is not documented`];
  const where = `webhook ${name}`;
  const out: string[] = [];
  const mt = mediaTypeOf(typeof cb.headers['content-type'] === 'string' ? cb.headers['content-type'] : null);
  const media = deref(root, op.requestBody)?.content?.[mt];
  if (!media) out.push(`${where}: media type ${mt} is not documented`);
  else {
    let body: unknown;
    try {
      body = JSON.parse(cb.body);
    } catch {
      out.push(`${where}: body is not JSON`);
    }
    if (body !== undefined) out.push(...schemaProblems(root, media.schema, body).map((p) => `${where}: ${p}`));
  }
  for (const param of operationsOf(root, 'webhooks').find((o) => o.path === name)!.params) {
    if (param.in !== 'header') {
      out.push(`${where}: parameter ${param.name} is in ${param.in}; a webhook can only describe headers`);
      continue;
    }
    const value = cb.headers[param.name.toLowerCase()];
    if (value === undefined) {
      if (param.required) out.push(`${where}: required header ${param.name} is missing`);
      continue;
    }
    out.push(...schemaProblems(root, param.schema, Array.isArray(value) ? value.join(', ') : value).map((p) => `${where}: header ${param.name} ${p}`));
  }
  return out;
}

/**
 * The Express app a running platform serves. The platform object does not hand out its app, and
 * rebuilding one with createApp would need every dependency the composition root wires; instead
 * this catches the server on Node's public `http.server.request.start` diagnostics channel during
 * one request and takes its "request" listener, the platform's createApp(), whose `express` is the app.
 */
async function servedApp(url: string): Promise<express.Express> {
  const port = Number(new URL(url).port);
  let server: http.Server | undefined;
  const onStart = (message: unknown) => {
    const candidate = (message as { server: http.Server }).server;
    if ((candidate.address() as AddressInfo | null)?.port === port) server = candidate;
  };
  diagnosticsChannel.subscribe('http.server.request.start', onStart);
  try {
    await (await fetch(`${url}/healthz`)).arrayBuffer();
  } finally {
    diagnosticsChannel.unsubscribe('http.server.request.start', onStart);
  }
  const listener = server?.listeners('request')[0] as { express?: express.Express & { router?: unknown } } | undefined;
  const app = listener?.express;
  if (!app || typeof app.router !== 'function') throw new Error(`could not find the Express app serving ${url}`);
  return app;
}

// ------------------------------------------------------------------ tests

describe('OpenAPI document', () => {
  let tp: TestPlatform;

  before(async () => {
    // Callbacks go to a receiver on 127.0.0.1, which the SSRF guard refuses unless allowed.
    tp = await startTestPlatform({ CALLBACK_ALLOW_CIDRS: '127.0.0.0/8,::1/128', SIMULATOR_RECEIPT_DELAY_MS: '20' });
  });
  after(async () => {
    await tp.stop();
  });

  describe('structure', () => {
    it('is valid OpenAPI 3.1: every $ref resolves, every operation has responses and a unique operationId', () => {
      expect(structuralProblems(openapi)).to.deep.equal([]);
      expect(openapi.openapi).to.match(/^3\.1\.\d+$/);
    });

    it('fails when a $ref dangles, an operationId repeats, a path parameter is undeclared or a component is unused', () => {
      const broken = JSON.parse(openapiText);
      broken.paths['/v1/dids'].get.responses['200'].content[JSONAPI].schema.$ref = '#/components/schemas/Nope';
      broken.paths['/v1/did_sets'].get.operationId = 'listDids';
      broken.paths['/v1/dids/{number}'].parameters = [];
      broken.paths['/v1/audit_events'].get.responses = {};
      broken.components.schemas.Leftover = { type: 'string' };
      broken.webhooks.dlrEvent.post.operationId = 'outboundMessageCallback';
      const problems = structuralProblems(broken).join('\n');
      expect(problems).to.include('$ref #/components/schemas/Nope does not resolve');
      expect(problems).to.include('operationId listDids is also used by GET /v1/dids');
      expect(problems).to.include('GET /v1/dids/{number}: path parameter {number} is not declared');
      expect(problems).to.include('GET /v1/audit_events: no responses');
      expect(problems).to.include('components.schemas.Leftover is never referenced');
      expect(problems).to.include('webhook dlrEvent POST: operationId outboundMessageCallback is also used by webhook outboundMessageCallback POST');
    });

    it('is served at GET /openapi.json byte for byte', async () => {
      const res = await fetch(`${tp.url}/openapi.json`);
      expect(res.status).to.equal(200);
      expect(mediaTypeOf(res.headers.get('content-type'))).to.equal('application/json');
      expect(await res.text()).to.equal(openapiText);
    });
  });

  describe('routes', () => {
    const documented = () => operationsOf(openapi).map((o) => `${o.method.toUpperCase()} ${shape(o.path)}`).sort();
    let servedRoutes: string[] = [];
    before(async () => {
      servedRoutes = listRoutes(await servedApp(tp.url))
        .map((r) => `${r.method} ${shape(r.path)}`)
        .sort();
    });
    const served = () => servedRoutes;

    it('lists nested routers with their mount paths and parameters', () => {
      const app = express();
      const inner = express.Router({ mergeParams: true });
      const noop: express.RequestHandler = (_req, res) => void res.end();
      inner.get('/', noop);
      inner.post('/items/:itemId', noop);
      inner.use((_req, _res, next) => next());
      const v1 = express.Router();
      v1.use('/things/:id', inner);
      v1.delete('/things/:id', noop);
      v1.all('/any', noop);
      app.use('/v1', v1);
      app.get('/healthz', noop);
      expect(listRoutes(app)).to.deep.equal([
        { method: 'GET', path: '/healthz' },
        { method: '*', path: '/v1/any' },
        { method: 'DELETE', path: '/v1/things/{id}' },
        { method: 'GET', path: '/v1/things/{id}' },
        { method: 'POST', path: '/v1/things/{id}/items/{itemId}' },
      ]);
    });

    it('fails when a route uses path syntax that has no OpenAPI form', () => {
      expect(toOpenApiTemplate('/share/:token')).to.equal('/share/{token}');
      expect(() => toOpenApiTemplate('/files/*path')).to.throw(/no OpenAPI form/);
      expect(() => toOpenApiTemplate('/users{/:id}')).to.throw(/no OpenAPI form/);
    });

    it('documents every route the app serves', () => {
      const missing = served().filter((r) => !documented().includes(r));
      expect(served()).to.have.length.greaterThan(20);
      expect(missing, 'served by the app but not in openapi.json').to.deep.equal([]);
    });

    it('serves every route the document describes', () => {
      const extra = documented().filter((r) => !served().includes(r));
      expect(extra, 'in openapi.json but not served by the app').to.deep.equal([]);
    });

    it('answers every documented operation with a documented status and body, never ROUTE_NOT_FOUND', async () => {
      const problems: string[] = [];
      for (const { path, method, op, params } of operationsOf(openapi)) {
        let url = path;
        for (const param of params.filter((x) => x.in === 'path')) url = url.replace(`{${param.name}}`, encodeURIComponent(String(param.example ?? 'probe')));
        const body = op.requestBody ? deref(openapi, op.requestBody) : undefined;
        const mediaType = body ? Object.keys(body.content)[0]! : undefined;
        const payload = mediaType === undefined ? undefined : mediaType === 'text/csv' ? 'number\n' : /json/.test(mediaType) ? '{}' : '';
        const res = await tp.api(method.toUpperCase(), url, payload, mediaType ? { 'content-type': mediaType } : {});
        if (res.status === 404 && res.body?.errors?.[0]?.code === 'ROUTE_NOT_FOUND') problems.push(`${method.toUpperCase()} ${url}: ROUTE_NOT_FOUND`);
        else problems.push(...responseProblems(openapi, res, method.toUpperCase(), path));
      }
      expect(problems).to.deep.equal([]);
    });

    it('fails when a request hits no route: the probe can tell ROUTE_NOT_FOUND apart', async () => {
      const res = await tp.api('PUT', '/v1/dids/12125551234', '{}', { 'content-type': JSONAPI });
      expect(res.status).to.equal(404);
      expect(res.body.errors[0].code).to.equal('ROUTE_NOT_FOUND');
      expect(responseProblems(openapi, res, 'PUT', '/v1/dids/{number}')).to.deep.equal(['PUT /v1/dids/{number} is not documented']);
    });
  });

  describe('schemas', () => {
    /** Operations the walk below has seen succeed (2xx); the last test wants all of them. */
    const succeeded = new Set<string>();
    /** Webhooks the walk received and checked against the document. */
    const received = new Set<string>();

    /** Checks every callback a receiver got against its webhook; returns how many there were of each type. */
    function checkCallbacks(callbacks: ReceivedCallback[], secret: string): Record<string, number> {
      const byType: Record<string, number> = {};
      for (const cb of callbacks) {
        const type = cb.json?.data?.type as string;
        const name = type === 'dlr_event' ? 'dlrEvent' : 'outboundMessageCallback';
        expect(webhookProblems(openapi, name, cb), `callback ${cb.body.slice(0, 200)}`).to.deep.equal([]);
        const verified = verifyCallback({ body: cb.body, headers: cb.headers as Record<string, string>, secret });
        expect(verified.id).to.equal(cb.json.meta.event_id);
        received.add(name);
        byType[type] = (byType[type] ?? 0) + 1;
      }
      return byType;
    }

    /**
     * Sends one request, checks the request body and query against the document, then checks the
     * response. `invalid` marks requests that are meant to break the documented rules.
     */
    async function call(
      method: string,
      template: string,
      opts: { params?: Record<string, string>; query?: Record<string, string>; body?: unknown; headers?: Record<string, string>; invalid?: boolean } = {},
    ): Promise<ApiResponse> {
      const op = openapi.paths[template]?.[method.toLowerCase()];
      expect(op, `${method} ${template} is documented`).to.not.equal(undefined);
      let url = template.replace(/\{([^}]+)\}/g, (_m, name: string) => encodeURIComponent(opts.params?.[name] ?? 'missing'));
      if (opts.query) {
        const documentedQuery = operationsOf(openapi).find((o) => o.path === template && o.method === method.toLowerCase())!.params.filter((p) => p.in === 'query').map((p) => p.name);
        for (const key of Object.keys(opts.query)) expect(documentedQuery, `${method} ${template} documents ?${key}`).to.include(key);
        url += `?${new URLSearchParams(opts.query).toString()}`;
      }
      if (opts.body !== undefined && !opts.invalid) {
        const contentType = opts.headers?.['content-type'] ?? JSONAPI;
        const media = deref(openapi, op.requestBody)?.content?.[contentType];
        expect(media, `${method} ${template} documents a ${contentType} body`).to.not.equal(undefined);
        if (typeof opts.body !== 'string') expect(schemaProblems(openapi, media.schema, opts.body), `request to ${method} ${template}`).to.deep.equal([]);
      }
      const res = await tp.api(method, url, opts.body, opts.headers ?? {});
      expect(responseProblems(openapi, res, method, template)).to.deep.equal([]);
      if (res.status >= 200 && res.status < 300) succeeded.add(`${method} ${template}`);
      return res;
    }

    it('fails when a response carries an attribute or a type the schema does not describe', async () => {
      const res = await call('POST', '/v1/dids', { body: doc('dids', { number: '447700900001' }) });
      const tampered = JSON.parse(res.text);
      tampered.data.attributes.colour = 'red';
      tampered.data.attributes.capabilities = 'sms_out';
      const problems = responseProblems(openapi, { ...res, text: JSON.stringify(tampered) }, 'POST', '/v1/dids');
      expect(problems.join('\n')).to.include('member "colour" is not documented').and.include('capabilities: expected array');
    });

    it('describes the system endpoints and GET /v1', async () => {
      await call('GET', '/healthz');
      await call('GET', '/readyz');
      await call('GET', '/openapi.json');
      await call('GET', '/metrics');
      await call('GET', '/v1');
      const noToken = await call('GET', '/v1', { headers: { authorization: '' } });
      expect(noToken.status).to.equal(401);
    });

    it('describes DIDs: create, import as CSV and JSON, list, read, change, delete', async () => {
      expect((await call('POST', '/v1/dids', { body: doc('dids', { number: '12125551234', description: 'New York main' }) })).status).to.equal(201);
      expect((await call('POST', '/v1/dids', { body: doc('dids', { number: '12125551234' }) })).status).to.equal(409);
      const bad = await call('POST', '/v1/dids', { body: doc('dids', { number: '+1 212 555', capabilities: ['fax'] }), invalid: true });
      expect(bad.status).to.equal(400);
      const csv = 'number,capabilities,description\n12125550001,sms_out;sms_in,\n12125550002,,second\n';
      const imported = await call('POST', '/v1/dids/import', { body: csv, headers: { 'content-type': 'text/csv' } });
      expect(imported.body.meta).to.deep.equal({ rows: 2, created: 2, updated: 0, unchanged: 0 });
      await call('POST', '/v1/dids/import', { body: { data: [{ type: 'dids', id: '12125550003' }, { type: 'dids', attributes: { number: '12125550004', capabilities: ['sms_in'] } }] } });
      const badImport = await call('POST', '/v1/dids/import', { body: '12125550005\n0123\n', headers: { 'content-type': 'text/csv' } });
      expect(badImport.status).to.equal(400);
      expect(badImport.body.errors[0].meta).to.deep.equal({ row: 2 });
      await call('POST', '/v1/dids/import', { body: 'x', headers: { 'content-type': 'text/xml' }, invalid: true });
      await call('GET', '/v1/dids', { query: { 'page[size]': '2', 'page[number]': '2', 'filter[capability]': 'sms_out', 'filter[number]': '1212' } });
      expect((await call('GET', '/v1/dids', { query: { 'page[size]': '0' } })).status).to.equal(400);
      await call('GET', '/v1/dids/{number}', { params: { number: '12125551234' } });
      await call('PATCH', '/v1/dids/{number}', { params: { number: '12125550004' }, body: doc('dids', { capabilities: ['sms_out', 'voice_in'], description: null }) });
      await call('DELETE', '/v1/dids/{number}', { params: { number: '12125550004' }, query: { force: 'true' } });
      expect((await call('GET', '/v1/dids/{number}', { params: { number: '12125550004' } })).status).to.equal(404);
    });

    it('describes source-DID sets, trunks, credentials, share links, audit events and admin tokens', async () => {
      for (const number of ['12125552001', '12125552002']) await call('POST', '/v1/dids', { body: doc('dids', { number }) });

      const set = await call('POST', '/v1/did_sets', { body: doc('did_sets', { name: 'main' }, { dids: rel('dids', ['12125552001']) }) });
      expect(set.status).to.equal(201);
      const setId = set.body.data.id as string;
      expect((await call('PUT', '/v1/did_sets/by-name/{name}', { params: { name: 'backup' }, body: doc('did_sets', {}, { dids: rel('dids', ['12125552002']) }) })).status).to.equal(201);
      const same = await call('PUT', '/v1/did_sets/by-name/{name}', { params: { name: 'backup' }, body: doc('did_sets', {}, { dids: rel('dids', ['12125552002']) }) });
      expect(same.body.meta).to.deep.equal({ changed: false, created: false, version: 1 });
      await call('PUT', '/v1/did_sets/by-name/{name}', { params: { name: 'ghosts' }, body: doc('did_sets', {}, { dids: rel('dids', ['19995550000']) }) });
      await call('GET', '/v1/did_sets', { query: { 'filter[name]': 'main' } });
      await call('GET', '/v1/did_sets/{id}', { params: { id: setId } });
      await call('PATCH', '/v1/did_sets/{id}', { params: { id: setId }, body: doc('did_sets', { name: 'main-numbers' }), headers: { 'if-match': '"1"' } });
      expect((await call('PATCH', '/v1/did_sets/{id}', { params: { id: setId }, body: doc('did_sets', { name: 'x' }), headers: { 'if-match': '"1"' } })).status).to.equal(412);

      const spec = {
        name: 'acme',
        callback_url: 'https://example.com/sms/callback',
        allowed_ips: ['203.0.113.0/24', '::ffff:198.51.100.7', '2001:db8::/32'],
        allow_any_did_as_source: false,
        dlr_events: true,
        external_reference_id: 'crm-4711',
        rate_limit_per_second: 50,
      };
      const trunk = await call('POST', '/v1/sms_trunks', { body: doc('sms_trunks', spec, { outgoing_dids: rel('dids', ['12125551234']), outgoing_did_sets: rel('did_sets', [setId]) }) });
      expect(trunk.status).to.equal(201);
      expect(trunk.body.data.attributes.allowed_ips).to.deep.equal(['203.0.113.0/24', '198.51.100.7/32', '2001:db8::/32']);
      const trunkId = trunk.body.data.id as string;
      expect((await call('POST', '/v1/sms_trunks', { body: doc('sms_trunks', { name: 'acme' }) })).status).to.equal(409);
      const invalid = await call('POST', '/v1/sms_trunks', { body: doc('sms_trunks', { name: ' ', allowed_ips: ['10.0.0.1/8'], callback_url: 'https://u:p@example.com' }), invalid: true });
      expect(invalid.body.errors.map((e: Json) => e.source.pointer)).to.deep.equal(['/data/attributes/name', '/data/attributes/callback_url', '/data/attributes/allowed_ips/0']);
      expect((await call('POST', '/v1/sms_trunks', { body: doc('sms_trunks', { name: 'nobody', allow_any_did_as_source: false }, { outgoing_dids: rel('dids', ['19995550000']) }) })).status).to.equal(422);
      await call('POST', '/v1/sms_trunks', { body: 'a,b', headers: { 'content-type': 'text/plain' }, invalid: true });
      expect((await call('PUT', '/v1/sms_trunks/by-name/{name}', { params: { name: 'beta' }, body: doc('sms_trunks', {}) })).status).to.equal(201);
      const { external_reference_id: _fromUrl, ...specWithoutReference } = spec;
      const byRef = await call('PUT', '/v1/sms_trunks/by-external-reference/{external_reference_id}', {
        params: { external_reference_id: 'crm-4711' },
        body: doc('sms_trunks', specWithoutReference, { outgoing_dids: rel('dids', ['12125551234']), outgoing_did_sets: rel('did_sets', [setId]) }),
      });
      expect(byRef.body.meta).to.deep.equal({ changed: false, created: false, version: 1 });
      await call('GET', '/v1/sms_trunks', { query: { sort: '-created_at', 'filter[q]': 'AC', 'filter[name]': 'acme', 'filter[external_reference_id]': 'crm-4711', 'page[size]': '1' } });
      await call('GET', '/v1/sms_trunks/{id}', { params: { id: trunkId } });
      await call('PATCH', '/v1/sms_trunks/{id}', { params: { id: trunkId }, body: doc('sms_trunks', { blocked: true }), headers: { 'if-match': '"1"' } });
      expect((await call('PATCH', '/v1/sms_trunks/{id}', { params: { id: trunkId }, body: doc('sms_trunks', { blocked: false }), headers: { 'if-match': 'v-one' } })).status).to.equal(412);
      expect((await call('PATCH', '/v1/sms_trunks/{id}', { params: { id: trunkId }, body: doc('sms_trunks', { blocked: true }), headers: { 'if-match': '*' } })).status).to.equal(200);

      await call('GET', '/v1/sms_trunks/{id}/credentials', { params: { id: trunkId } });
      await call('GET', '/v1/sms_trunks/{id}/callback_secret', { params: { id: trunkId } });
      await call('POST', '/v1/sms_trunks/{id}/callback_secret/rotate', { params: { id: trunkId }, body: doc('callback_secret_rotations', { grace_period_seconds: 600 }) });
      await call('POST', '/v1/sms_trunks/{id}/callback_secret/rotate', { params: { id: trunkId } });
      await call('POST', '/v1/sms_trunks/{id}/credentials/regenerate', { params: { id: trunkId }, body: doc('credential_regenerations', { grace_period_seconds: 3600 }) });
      expect((await call('POST', '/v1/sms_trunks/{id}/credentials/regenerate', { params: { id: trunkId }, body: doc('credential_regenerations', { grace_period_seconds: 604801 }), invalid: true })).status).to.equal(400);
      const share = await call('POST', '/v1/sms_trunks/{id}/credentials/share', { params: { id: trunkId }, body: doc('share_links', { expires_in_seconds: 600, recipient: 'ops@example.com' }) });
      expect(share.status).to.equal(201);
      expect((await call('POST', '/v1/sms_trunks/{id}/credentials/share', { params: { id: trunkId }, body: doc('share_links', { expires_in_seconds: 59 }), invalid: true })).status).to.equal(400);
      await call('GET', '/v1/sms_trunks/{id}/share_links', { params: { id: trunkId } });
      const token = (share.body.data.attributes.url as string).split('/share/')[1]!;
      await call('GET', '/share/{token}', { params: { token }, headers: { authorization: '' } });
      await call('GET', '/share/{token}', { params: { token }, headers: { authorization: '', accept: 'text/html' } });
      const redeemed = await call('POST', '/share/{token}', { params: { token }, headers: { authorization: '' } });
      expect(redeemed.body.meta).to.deep.equal({ trunk_name: 'acme' });
      expect((await call('POST', '/share/{token}', { params: { token }, headers: { authorization: '', accept: 'text/html' } })).status).to.equal(410);
      expect((await call('GET', '/share/{token}', { params: { token }, headers: { authorization: '' } })).status).to.equal(410);
      await call('DELETE', '/v1/share_links/{id}', { params: { id: share.body.data.id } });

      await call('GET', '/v1/audit_events', {
        query: { 'filter[resource_type]': 'sms_trunks', 'filter[resource_id]': trunkId, 'filter[action]': 'trunk.update', 'filter[actor]': 'ADMIN', 'filter[since]': '2000-01-01T00:00:00Z', 'filter[until]': '2100-01-01T00:00:00Z' },
      });
      await call('GET', '/v1/audit_events', { query: { 'page[size]': '5' } });
      expect((await call('GET', '/v1/audit_events', { query: { 'filter[since]': 'yesterday' } })).status).to.equal(400);

      const adminToken = await call('POST', '/v1/admin_tokens', { body: doc('admin_tokens', { name: 'ci' }) });
      await call('GET', '/v1/admin_tokens');
      await call('DELETE', '/v1/admin_tokens/{id}', { params: { id: adminToken.body.data.id } });
      expect((await call('DELETE', '/v1/admin_tokens/{id}', { params: { id: adminToken.body.data.id } })).status).to.equal(404);

      expect((await call('DELETE', '/v1/dids/{number}', { params: { number: '12125551234' } })).status).to.equal(409);
      expect((await call('DELETE', '/v1/did_sets/{id}', { params: { id: setId } })).status).to.equal(409);
      await call('DELETE', '/v1/sms_trunks/{id}', { params: { id: trunkId }, headers: { 'if-match': '"2"' } });
      await call('DELETE', '/v1/did_sets/{id}', { params: { id: setId } });
    });

    it('describes trunks and sets managed by code: force, conditional deletes by spec hash', async () => {
      await call('POST', '/v1/dids', { body: doc('dids', { number: '12125554001' }) });
      const managed = { managed_by: 'cdktf:prod', managed_spec_hash: 'sha256:h1' };
      const trunk = await call('PUT', '/v1/sms_trunks/by-external-reference/{external_reference_id}', { params: { external_reference_id: 'stack/app' }, body: doc('sms_trunks', { name: 'managed-app', ...managed }) });
      expect(trunk.status).to.equal(201);
      const trunkId = trunk.body.data.id as string;
      const refused = await call('PATCH', '/v1/sms_trunks/{id}', { params: { id: trunkId }, body: doc('sms_trunks', { blocked: true }) });
      expect(refused.status).to.equal(409);
      expect(refused.body.errors[0]).to.deep.include({ code: 'TRUNK_MANAGED', meta: { managed_by: 'cdktf:prod' } });
      expect((await call('DELETE', '/v1/sms_trunks/{id}', { params: { id: trunkId } })).status).to.equal(409);
      await call('PATCH', '/v1/sms_trunks/{id}', { params: { id: trunkId }, query: { force: 'true' }, body: doc('sms_trunks', { blocked: true }) });
      const taken = await call('PUT', '/v1/sms_trunks/by-name/{name}', { params: { name: 'managed-app' }, body: doc('sms_trunks', { external_reference_id: 'stack/app' }) });
      expect(taken.body.errors[0].code).to.equal('TRUNK_MANAGED');
      const stale = await call('DELETE', '/v1/sms_trunks/by-external-reference/{external_reference_id}', { params: { external_reference_id: 'stack/app' }, query: { if_managed_spec_hash: 'sha256:old' } });
      expect(stale.body.meta).to.deep.equal({ deleted: false, reason: 'spec_changed' });
      const gone = await call('DELETE', '/v1/sms_trunks/by-external-reference/{external_reference_id}', { params: { external_reference_id: 'stack/app' }, query: { if_managed_spec_hash: 'sha256:h1' } });
      expect(gone.body.meta).to.include({ deleted: true });
      expect((await call('DELETE', '/v1/sms_trunks/by-external-reference/{external_reference_id}', { params: { external_reference_id: 'stack/app' }, query: {}, invalid: true })).status).to.equal(400);

      const set = await call('PUT', '/v1/did_sets/by-name/{name}', { params: { name: 'managed-set' }, body: doc('did_sets', managed, { dids: rel('dids', ['12125554001']) }) });
      expect(set.status).to.equal(201);
      const setId = set.body.data.id as string;
      expect((await call('PATCH', '/v1/did_sets/{id}', { params: { id: setId }, body: doc('did_sets', {}, { dids: rel('dids', []) }) })).body.errors[0].code).to.equal('DID_SET_MANAGED');
      await call('PATCH', '/v1/did_sets/{id}', { params: { id: setId }, query: { force: '1' }, body: doc('did_sets', { managed_spec_hash: 'sha256:h2' }) });
      await call('PUT', '/v1/did_sets/by-name/{name}', { params: { name: 'managed-set' }, query: { force: 'true' }, body: doc('did_sets', { ...managed, managed_spec_hash: 'sha256:h3' }) });
      expect((await call('DELETE', '/v1/did_sets/by-name/{name}', { params: { name: 'managed-set' }, query: { if_managed_spec_hash: 'sha256:h3' } })).body.meta).to.deep.equal({ deleted: true });
      expect((await call('DELETE', '/v1/did_sets/by-name/{name}', { params: { name: 'managed-set' }, query: { if_managed_spec_hash: 'sha256:h3' } })).body.meta).to.deep.equal({ deleted: false, reason: 'not_found' });
      const forced = await call('PUT', '/v1/did_sets/by-name/{name}', { params: { name: 'forced-set' }, body: doc('did_sets', managed) });
      await call('DELETE', '/v1/did_sets/{id}', { params: { id: forced.body.data.id }, query: { force: 'true' } });
    });

    it('describes the send API, the message log, callback replay and the callbacks the platform sends', async function () {
      this.timeout(30_000);
      const rx = await new CallbackReceiver().start();
      try {
        const SOURCE = '12125553001';
        await call('POST', '/v1/dids', { body: doc('dids', { number: SOURCE }) });
        const trunk = await call('POST', '/v1/sms_trunks', { body: doc('sms_trunks', { name: 'sender', callback_url: rx.url, dlr_events: true, allow_any_did_as_source: true }) });
        expect(trunk.status).to.equal(201);
        const trunkId = trunk.body.data.id as string;
        const creds = (await call('GET', '/v1/sms_trunks/{id}/credentials', { params: { id: trunkId } })).body.data.attributes;
        const secret = (await call('GET', '/v1/sms_trunks/{id}/callback_secret', { params: { id: trunkId } })).body.data.attributes.secret as string;
        const auth = { authorization: basic(creds.username, creds.password) };

        // One message; unknown attributes (callback_url) are ignored; Idempotency-Key replays the 201.
        const message = { destination: '15551234567', source: SOURCE, content: 'Hello World!', callback_url: 'https://ignored.example/cb' };
        const sent = await call('POST', '/outbound_messages', { body: doc('outbound_messages', message), headers: { ...auth, 'idempotency-key': 'walk-1' } });
        expect(sent.status).to.equal(201);
        expect(sent.headers.get('idempotent-replayed')).to.equal(null);
        expect(sent.body.data.attributes).to.deep.equal({ encoding: 'gsm7', segments: 1 });
        const messageId = sent.body.data.id as string;
        const again = await call('POST', '/outbound_messages', { body: doc('outbound_messages', message), headers: { ...auth, 'idempotency-key': 'walk-1' } });
        expect(again.status).to.equal(201);
        expect(again.headers.get('idempotent-replayed')).to.equal('true');
        expect(again.text).to.equal(sent.text);
        const reused = await call('POST', '/outbound_messages', { body: doc('outbound_messages', { ...message, content: 'Other' }), headers: { ...auth, 'idempotency-key': 'walk-1' } });
        expect(reused.status).to.equal(422);
        expect(reused.body.errors[0]).to.deep.include({ code: 'IDEMPOTENCY_KEY_REUSED', meta: { header: 'Idempotency-Key' } });
        const ucs2 = await call('POST', '/outbound_messages', { body: doc('outbound_messages', { destination: '15551234561', source: SOURCE, content: 'Grüße 👋' }), headers: auth });
        expect(ucs2.body.data.attributes).to.deep.equal({ encoding: 'ucs2', segments: 1 });

        // Every rejection, in DIDWW's order of checks.
        const wrongPassword = await call('POST', '/outbound_messages', { body: doc('outbound_messages', message), headers: { authorization: basic(creds.username, 'wrong') } });
        expect(wrongPassword.status).to.equal(401);
        const bearer = await call('GET', '/outbound_messages/{id}', { params: { id: messageId } });
        expect(bearer.body.errors[0].code, 'an admin token is no trunk credential').to.equal('UNAUTHORIZED');
        const json = await call('POST', '/outbound_messages', { body: doc('outbound_messages', message), headers: { ...auth, 'content-type': 'application/json' }, invalid: true });
        expect(json.body.errors[0].code).to.equal('UNSUPPORTED_MEDIA_TYPE');
        const campaign = await call('POST', '/outbound_messages', { body: doc('outbound_messages', { destination: '15551234567', campaign_id: 'C-1', content: 'x' }), headers: auth, invalid: true });
        expect(campaign.status).to.equal(400);
        expect(campaign.body.errors[0].source).to.deep.equal({ pointer: '/data/attributes/source' });
        const broken = await call('POST', '/outbound_messages', { body: doc('outbound_messages', { destination: '+15551234567', source: SOURCE, content: 'x'.repeat(1531) }), headers: auth, invalid: true });
        expect(broken.body.errors.map((e: Json) => [e.code, e.source.pointer])).to.deep.equal([
          ['INVALID_ATTRIBUTE', '/data/attributes/destination'],
          ['CONTENT_TOO_LONG', '/data/attributes/content'],
        ]);
        const badKey = await call('POST', '/outbound_messages', { body: doc('outbound_messages', message), headers: { ...auth, 'idempotency-key': 'has space' }, invalid: true });
        expect(badKey.body.errors[0].code).to.equal('INVALID_IDEMPOTENCY_KEY');
        const foreign = await call('POST', '/outbound_messages', { body: doc('outbound_messages', { ...message, source: '19995550000' }), headers: auth });
        expect(foreign.status).to.equal(422);
        expect(foreign.body.errors[0].code).to.equal('SOURCE_NOT_ALLOWED');

        // A bulk: one id per destination, in order.
        const destinations = ['15551230001', '15551230002', '15551230003'];
        const bulkSent = await call('POST', '/bulk_outbound_messages', { body: doc('bulk_outbound_messages', { destination: destinations, source: SOURCE, content: 'a'.repeat(161) }), headers: auth });
        expect(bulkSent.status).to.equal(201);
        const bulkIds = bulkSent.body.data.attributes.message_ids as string[];
        expect(bulkIds).to.have.length(3);
        expect(bulkSent.body.data.relationships.outbound_messages.data.map((d: Json) => d.id)).to.deep.equal(bulkIds);
        expect(bulkSent.body.data.attributes).to.deep.include({ encoding: 'gsm7', segments: 2 });
        const tooMany = await call('POST', '/bulk_outbound_messages', { body: doc('bulk_outbound_messages', { destination: [], source: SOURCE, content: 'x' }), headers: auth, invalid: true });
        expect(tooMany.body.errors[0].code).to.equal('TOO_MANY_DESTINATIONS');

        // Rate limit, then a blocked trunk: sending stops, reading goes on.
        const limitedTrunk = await call('POST', '/v1/sms_trunks', { body: doc('sms_trunks', { name: 'limited', rate_limit_per_second: 1 }) });
        const limitedCreds = (await call('GET', '/v1/sms_trunks/{id}/credentials', { params: { id: limitedTrunk.body.data.id } })).body.data.attributes;
        const limitedAuth = { authorization: basic(limitedCreds.username, limitedCreds.password) };
        // A bulk is admitted while the bucket is not empty and overdraws it: 2 messages on a 1/s trunk leave a debt of 1.
        const first = await call('POST', '/bulk_outbound_messages', { body: doc('bulk_outbound_messages', { ...message, destination: ['15551234562', '15551234563'] }), headers: limitedAuth });
        expect(first.status).to.equal(201);
        const limited = await call('POST', '/outbound_messages', { body: doc('outbound_messages', { ...message, destination: '15551234564' }), headers: limitedAuth });
        expect(limited.status).to.equal(429);
        expect(limited.body.errors[0].code).to.equal('RATE_LIMITED');
        expect(Number(limited.headers.get('retry-after'))).to.be.at.least(1);
        await call('PATCH', '/v1/sms_trunks/{id}', { params: { id: limitedTrunk.body.data.id }, body: doc('sms_trunks', { blocked: true }) });
        const blocked = await call('POST', '/outbound_messages', { body: 'not even JSON', headers: { ...limitedAuth, 'content-type': JSONAPI }, invalid: true });
        expect(blocked.status).to.equal(403);
        expect((await call('GET', '/outbound_messages/{id}', { params: { id: first.body.data.attributes.message_ids[0] }, headers: limitedAuth })).status).to.equal(200);
        expect((await call('GET', '/outbound_messages/{id}', { params: { id: messageId }, headers: limitedAuth })).status, "another trunk's message").to.equal(404);

        // The callbacks: a status callback and a DLR event per message of the first trunk.
        const ownIds = [messageId, ucs2.body.data.id as string, ...bulkIds];
        await rx.waitFor((r) => r.length >= ownIds.length * 2, 15_000, 'a status callback and a DLR event per message');
        expect(checkCallbacks(rx.received, secret)).to.deep.equal({ outbound_message_callbacks: ownIds.length, dlr_event: ownIds.length });
        const [status, dlr] = rx.forMessage(messageId).sort((a, b) => a.json.meta.sequence - b.json.meta.sequence);
        expect(status!.json.data.attributes).to.include({ status: 'Success', destination: '15551234567', fragments_sent: 1 });
        expect(dlr!.json.data.attributes).to.include({ status: 'DELIVERED', parts_total: 1, parts_delivered: 1 });
        const tampered = { ...status!, body: JSON.stringify({ ...status!.json, data: { ...status!.json.data, attributes: { ...status!.json.data.attributes, price: 0.01 } } }) };
        expect(webhookProblems(openapi, 'outboundMessageCallback', tampered).join('\n')).to.include('price: expected null');

        // Reading: the trunk's view, the admin view with callbacks, the list.
        const view = await call('GET', '/outbound_messages/{id}', { params: { id: messageId }, headers: auth });
        expect(view.body.data.attributes).to.include({ status: 'delivered', final_status: 'DELIVERED', encoding: 'gsm7', segments: 1 });
        expect(view.body.data.attributes.events.map((e: Json) => e.type)).to.deep.equal(['accepted', 'submitted', 'receipt', 'final']);
        expect((await call('GET', '/outbound_messages/{id}', { params: { id: 'no-such-message' }, headers: auth })).status).to.equal(404);
        // The receiver answers before the platform records the attempt; wait until both callbacks show as delivered.
        let adminView: ApiResponse | undefined;
        for (let i = 0; i < 100; i++) {
          adminView = await tp.api('GET', `/v1/messages/${messageId}`);
          if (adminView.body.data.attributes.callbacks.length === 2 && adminView.body.data.attributes.callbacks.every((c: Json) => c.state === 'delivered')) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        adminView = await call('GET', '/v1/messages/{id}', { params: { id: messageId } });
        const callbacks = adminView.body.data.attributes.callbacks as Json[];
        expect(callbacks.map((c) => [c.kind, c.sequence, c.state, c.history.length])).to.deep.equal([
          ['status', 1, 'delivered', 1],
          ['dlr', 2, 'delivered', 1],
        ]);
        expect(callbacks[0].id).to.equal(status!.headers['webhook-id']);
        expect((await call('GET', '/v1/messages/{id}', { params: { id: 'no-such-message' } })).status).to.equal(404);
        const list = await call('GET', '/v1/messages', {
          query: { 'filter[trunk]': trunkId, 'filter[status]': 'delivered', 'filter[since]': '2000-01-01T00:00:00Z', 'filter[until]': '2100-01-01T00:00:00Z', 'page[size]': '2' },
        });
        expect(list.body.meta.total).to.equal(ownIds.length);
        expect(list.body.data).to.have.length(2);
        expect(list.body.links.next).to.be.a('string');
        await call('GET', '/v1/messages', { query: { 'page[number]': '2', 'page[size]': '1' } });
        expect((await call('GET', '/v1/messages', { query: { 'filter[status]': 'sent' }, invalid: true })).status).to.equal(400);

        // Replay: the same body and webhook-id again.
        const replay = await call('POST', '/v1/callbacks/{id}/replay', { params: { id: callbacks[0].id } });
        expect(replay.status).to.equal(202);
        expect(replay.body.meta).to.deep.equal({ replayed: callbacks[0].id });
        await rx.waitFor((r) => r.filter((c) => c.headers['webhook-id'] === callbacks[0].id).length === 2, 10_000, 'the replayed callback');
        const copies = rx.received.filter((c) => c.headers['webhook-id'] === callbacks[0].id);
        expect(copies[1]!.body).to.equal(copies[0]!.body);
        checkCallbacks(copies, secret);
        expect((await call('POST', '/v1/callbacks/{id}/replay', { params: { id: '00000000-0000-4000-8000-000000000000' } })).status).to.equal(404);
      } finally {
        await rx.stop();
      }
    });

    // Reads what the tests above recorded, so a new route cannot join the document without one
    // successful request whose body was checked against its schema.
    it('has exercised every documented operation successfully in the tests above', () => {
      const never = operationsOf(openapi)
        .map((o) => `${o.method.toUpperCase()} ${o.path}`)
        .filter((key) => !succeeded.has(key));
      expect(never, 'documented operations without a successful, schema-checked request in this file').to.deep.equal([]);
      const unseen = Object.keys(openapi.webhooks ?? {}).filter((name) => !received.has(name));
      expect(unseen, 'documented webhooks the walk never received and checked').to.deep.equal([]);
    });
  });
});
