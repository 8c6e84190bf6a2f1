import { expect } from 'chai';
import fc from 'fast-check';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { OPENAPI_PATH } from '../../control-plane/src/http/app';
import { DatabaseDump, diffDumps, dumpDatabase, hashDump } from '../support/db-dump';
import { doc, rel, startTestPlatform, TestPlatform } from '../support/platform';
import http from 'node:http';
import { basic, request, RawResponse } from '../support/send-client';

/*
 * Suite 4 of the reliability plan: hostile and malformed requests against every endpoint. Each
 * input must get a 4xx JSON:API error (never a 5xx), the server must keep serving, and the
 * database must be byte-for-byte what it was (audit_events included: a rejected request leaves no
 * trace). Table rows name the classic attacks; fast-check (fixed seed, bounded runs) explores
 * around them. Every input is followed by a full dump of the database, so a write is pinned on
 * the exact request that made it.
 */

const SEED = Number(process.env.BAD_INPUT_SEED ?? 20261124);
const RUNS = Number(process.env.BAD_INPUT_RUNS ?? 150);
const JSONAPI = 'application/vnd.api+json';
const METRICS_TOKEN = 'bad-input-metrics-token-0123456789';
const ALLOWED_SOURCE = '12125551234';

interface Input {
  /** The OpenAPI operation this input targets, e.g. "PATCH /v1/dids/{number}". */
  op: string;
  why: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Documented answers that are not JSON:API (the plain-text 401 of /metrics, Node's own 431). */
  plain?: boolean;
  /** Read-only probes (injection in free-text filters) may answer 200; they must still change nothing. */
  allowOk?: (res: RawResponse) => string | undefined;
}

type Poison = { attributes?: Record<string, unknown>; relationships?: Record<string, unknown> };

interface JsonEndpoint {
  op: string;
  url: string;
  method: string;
  auth: 'admin' | 'basic';
  type: string;
  /** Attributes of an otherwise valid document: a poisoned copy must still be refused as a whole. */
  base: Record<string, unknown>;
  relationships?: Record<string, unknown>;
  allowEmpty?: boolean;
  /** A stored free-text attribute, where encoding attacks go. */
  textAttr?: string;
  /** Whether that attribute refuses C0 control characters (SMS content sends them as UCS-2). */
  textRefusesControls?: boolean;
  /** Whether unknown members of data / attributes are refused (the DIDWW send API ignores them, as DIDWW does). */
  strictMembers: boolean;
  limitBytes: number;
  poison: fc.Arbitrary<Poison>;
}

/**
 * Sends the path exactly as written: a URL string would be normalised by the client (WHATWG
 * resolves "..", "%2e%2e" and "./" before the request leaves), and traversal must reach the server.
 */
function rawRequest(base: string, path: string, opts: { method: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    // Node frames a DELETE or GET body only when told its length.
    const headers = opts.body === undefined ? opts.headers : { 'content-length': String(Buffer.byteLength(opts.body)), ...opts.headers };
    const req = http.request({ host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port, path, method: opts.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
/** Percent-encodes every byte, so any string (lone surrogates included) becomes a path segment. */
const pct = (s: string | Uint8Array) => [...Buffer.from(s as string)].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');

// ------------------------------------------------------------------ value generators that are never valid

const safeKey = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => k !== '__proto__');
const anyJson = fc.jsonValue({ maxDepth: 3 });
const nonString = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.array(anyJson, { maxLength: 3 }), fc.dictionary(safeKey, anyJson, { maxKeys: 3 }));
const nonStringOrNull = fc.oneof(nonString, fc.constant(null));
const nonArray = fc.oneof(fc.integer(), fc.boolean(), fc.string(), fc.dictionary(safeKey, anyJson, { maxKeys: 3 }));
const fraction = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }).filter((x) => !Number.isInteger(x));
/** Text with one C0 control or DEL in the middle (trimming cannot remove it). */
const withControl = (alphabet = [...Array(32).keys(), 127]) =>
  fc.tuple(fc.string({ maxLength: 20 }), fc.constantFrom(...alphabet), fc.string({ maxLength: 20 })).map(([a, c, b]) => `x${a}${String.fromCharCode(c)}${b}x`);
const tooLong = (min: number) => fc.string({ minLength: min + 1, maxLength: min + 40 }).filter((s) => s.trim().length > min);

const badName = fc.oneof(nonStringOrNull, fc.constantFrom('', '   ', '\t\n'), tooLong(100), withControl());
const badE164 = fc.oneof(nonStringOrNull, fc.string({ maxLength: 20 }).filter((s) => !/^[1-9][0-9]{6,14}$/.test(s)), fc.constantFrom('+12125551234', '0212555123', '1212555123456789', '1 212 555 1234', '١٢١٢٥٥٥١٢٣٤'));
const badCapabilities = fc.oneof(nonArray, fc.array(fc.string().filter((c) => !['sms_out', 'sms_in', 'voice_in', 'voice_out'].includes(c)), { minLength: 1, maxLength: 3 }));
const badDescription = fc.oneof(nonString, tooLong(255), withControl());
const badUrl = fc.oneof(
  nonString,
  fc.string({ maxLength: 40 }).filter((s) => s !== '' && !/^https?:\/\//i.test(s)),
  fc.constantFrom(
    'javascript:alert(1)', 'file:///etc/passwd', 'ftp://example.com/x', 'gopher://127.0.0.1:25/', '//example.com/x', '/relative', 'http://', 'https://user:pw@example.com/cb',
    'http://127.0.0.1/cb', 'http://[::1]/cb', 'http://localhost/cb', 'http://169.254.169.254/latest/meta-data', 'http://10.0.0.1/', 'http://[fd00::1]/', 'http://0.0.0.0/',
    'http://exa mple.com/', 'https://example.com/\u0001', 'https://example.com/\u007f', `https://example.com/${'a'.repeat(2040)}`,
  ),
);
const badCidrList = fc.oneof(
  nonArray,
  fc.array(fc.oneof(nonStringOrNull, fc.string({ maxLength: 30 }).filter((s) => s.trim() === '' || /[^0-9a-fA-F:./\s]/.test(s))), { minLength: 1, maxLength: 4 }),
  fc.constantFrom(['10.0.0.5/24'], ['256.1.1.1'], ['1.2.3.4/33'], ['::1/129'], ['010.0.0.1'], ['0x7f.0.0.1'], ['fe80::1%eth0'], ['1.2.3'], ['1.2.3.4/'], ['/24'], ['1.2.3.4/-1'], ['2001:db8::/64x'], ['1.2.3.4/08']),
  fc.constant(Array.from({ length: 101 }, (_, i) => `10.0.${i}.0/24`)),
);
const badBool = fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.array(anyJson, { maxLength: 2 }));
const badRate = fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 100_001 }), fraction, fc.string(), fc.boolean());
const badExternalRef = fc.oneof(nonString, fc.constant(''), tooLong(100), withControl());
const badSpecHash = fc.string({ maxLength: 140 }).filter((s) => !/^[A-Za-z0-9:_-]{1,128}$/.test(s));
const badManagedBy = fc.oneof(nonString, fc.constant(''), fc.string({ minLength: 201, maxLength: 220 }), withControl());
const badGrace = fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: 604_801 }), fraction, fc.string(), fc.boolean(), fc.array(anyJson, { maxLength: 2 }));
const badTtl = fc.oneof(fc.integer({ max: 59 }), fc.integer({ min: 604_801 }), fraction, fc.string(), fc.boolean(), fc.constant(null));
const badRecipient = fc.oneof(nonString, fc.string({ minLength: 256, maxLength: 280 }), withControl([...Array(32).keys()]));
const badDigits = fc.oneof(nonStringOrNull, fc.string({ maxLength: 18 }).filter((s) => !/^[0-9]{3,15}$/.test(s)), fc.constantFrom('+15551234567', '12', '1234567890123456', '١٢٣٤٥٦٧'));
const unknownSource = fc.stringMatching(/^[0-9]{3,15}$/).filter((s) => s !== ALLOWED_SOURCE && s !== '12125551235');
const badContent = fc.oneof(
  nonStringOrNull,
  fc.constant(''),
  fc.string({ minLength: 1531, maxLength: 1600 }),
  fc.constantFrom('\ud800', 'a\udc00b', 'x\u0000y', '€'.repeat(766), '😀'.repeat(336)),
);
const badRelationship = (type: string) =>
  fc.oneof(
    anyJson.filter((v) => !(isObj(v) && Array.isArray(v.data))),
    fc.record({ data: fc.array(anyJson.filter((v) => !(isObj(v) && v.type === type && typeof v.id === 'string' && v.id !== '')), { minLength: 1, maxLength: 3 }) }),
    fc.record({ data: fc.array(fc.record({ type: fc.constant(type), id: fc.string({ minLength: 1, maxLength: 40 }).filter((id) => !['12125551234', '12125551235', '4930123456'].includes(id)) }), { minLength: 1, maxLength: 3 }) }),
  );
/** An attribute name the resource does not have (read-only names are ignored, so they are left out). */
const unknownAttribute = (known: string[]) =>
  fc.tuple(safeKey.filter((k) => !known.includes(k)), anyJson).map(([k, v]) => ({ attributes: { [k]: v } }));
const attr = (name: string, arb: fc.Arbitrary<unknown>) => arb.map((v) => ({ attributes: { [name]: v } }));

describe('reliability: bad input never gets past validation', function () {
  this.timeout(600_000);
  let t: TestPlatform;
  let baseline: DatabaseDump;
  let baselineHash: string;
  let ids: Record<string, string>;
  let auth: Record<string, string>;
  let endpoints: JsonEndpoint[];
  const counts = { table: 0, property: 0, queries: 0, queriesOk: 0, serverErrors: 0, dbChanges: 0, refusedBadly: 0, byOp: new Map<string, number>(), statuses: new Map<number, number>() };
  const started = Date.now();

  before(async function () {
    this.timeout(60_000);
    t = await startTestPlatform({
      AUTH_MAX_FAILURES_PER_IP: '1000000',
      AUTH_MAX_FAILURES_PER_USERNAME: '1000000',
      METRICS_TOKEN,
    });
    const ok = async (p: Promise<{ status: number; body: any; text: string }>) => {
      const r = await p;
      if (r.status >= 300) throw new Error(`seeding failed: ${r.status} ${r.text}`);
      return r.body;
    };
    await ok(t.api('POST', '/v1/dids/import', 'number,capabilities,description\n12125551234,sms_out,NYC\n12125551235,sms_out,NYC 2\n4930123456,sms_in,Berlin\n', { 'content-type': 'text/csv' }));
    const set = await ok(t.api('POST', '/v1/did_sets', doc('did_sets', { name: 'senders' }, { dids: rel('dids', [ALLOWED_SOURCE]) })));
    const alpha = await ok(t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Alpha', external_reference_id: 'ext-alpha' })));
    const beta = await ok(
      t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Beta', allow_any_did_as_source: false, allowed_ips: ['127.0.0.0/8', '::1/128'] }, { outgoing_did_sets: rel('did_sets', [set.data.id]) })),
    );
    const fenced = await ok(t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Fenced', allowed_ips: ['203.0.113.0/24'] })));
    const blocked = await ok(t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Blocked', blocked: true })));
    const creds = async (id: string) => (await ok(t.api('GET', `/v1/sms_trunks/${id}/credentials`))).data.attributes;
    const [ca, cb, cf, cx] = await Promise.all([alpha, beta, fenced, blocked].map((tr) => creds(tr.data.id)));
    const share = await ok(t.api('POST', `/v1/sms_trunks/${alpha.data.id}/credentials/share`, doc('share_links', { recipient: 'ops' })));
    const token = await ok(t.api('POST', '/v1/admin_tokens', doc('admin_tokens', { name: 'ci' })));
    const sent = [];
    // Destinations ending in 8 are refused by the simulator at submit: final at once, no receipt in flight.
    for (const destination of ['15551234568', '15551234518', '15551234528']) {
      const r = await request(`${t.url}/outbound_messages`, {
        method: 'POST',
        headers: { authorization: basic(ca.username, ca.password), 'content-type': JSONAPI },
        body: JSON.stringify({ data: { type: 'outbound_messages', attributes: { destination, source: ALLOWED_SOURCE, content: 'seed' } } }),
      });
      if (r.status !== 201) throw new Error(`seeding a message failed: ${r.status} ${r.text}`);
      sent.push(r.body.data.id as string);
    }
    // The workers must be idle before the baseline: only then is any later change the request's doing.
    const knex = t.platform.db.knex;
    for (const deadline = Date.now() + 20_000; ; ) {
      const [{ n }] = await knex('messages').whereIn('status', ['accepted', 'submitted']).count({ n: '*' });
      if (Number(n) === 0) break;
      if (Date.now() > deadline) throw new Error('seeded messages did not reach a final status');
      await new Promise((r) => setTimeout(r, 50));
    }
    ids = { alpha: alpha.data.id, beta: beta.data.id, set: set.data.id, share: share.data.id, token: token.data.id, message: sent[0]!, setName: 'senders' };
    auth = {
      admin: `Bearer ${t.token}`,
      alpha: basic(ca.username, ca.password),
      beta: basic(cb.username, cb.password),
      fenced: basic(cf.username, cf.password),
      blocked: basic(cx.username, cx.password),
      alphaUser: ca.username,
      alphaPassword: ca.password,
      betaUser: cb.username,
      extraToken: token.data.attributes.token,
    };
    endpoints = jsonEndpoints();
    baseline = await dumpDatabase(knex, t.platform.db.dialect);
    baselineHash = hashDump(baseline);
  });

  after(async () => {
    if (!t) return;
    const health = await request(`${t.url}/healthz`);
    await t.stop();
    const inputs = counts.table + counts.property;
    const statuses = [...counts.statuses.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(' ');
    // eslint-disable-next-line no-console
    console.log(
      `      bad-input[${process.env.TEST_DATABASE_URL ? 'postgres' : 'sqlite'}]: seed=${SEED} endpoints=${counts.byOp.size} inputs=${inputs} (table=${counts.table} property=${counts.property}) ` +
        `read-probes=${counts.queries} (200=${counts.queriesOk}) 5xx=${counts.serverErrors} db_changes=${counts.dbChanges} not_refused=${counts.refusedBadly} ` +
        `server_up=${health.status === 200} statuses=[${statuses}] elapsed=${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
  });

  /** Sends one input and returns what is wrong with the answer or the database afterwards (undefined when nothing). */
  async function attempt(input: Input): Promise<string | undefined> {
    counts.byOp.set(input.op, (counts.byOp.get(input.op) ?? 0) + 1);
    let res: RawResponse;
    try {
      res = await rawRequest(t.url, input.path, { method: input.method, headers: input.headers, body: input.body });
    } catch (err) {
      return `no answer: ${(err as Error).message}`;
    }
    counts.statuses.set(res.status, (counts.statuses.get(res.status) ?? 0) + 1);
    let problem: string | undefined;
    if (input.allowOk && res.status === 200) problem = input.allowOk(res);
    else if (res.status < 400 || res.status > 499) problem = `status ${res.status}`;
    else if (!input.plain) problem = jsonApiProblem(res);
    if (res.status >= 500) counts.serverErrors++;
    if (problem) counts.refusedBadly++;
    const after = await dumpDatabase(t.platform.db.knex, t.platform.db.dialect);
    if (hashDump(after) !== baselineHash) {
      counts.dbChanges++;
      problem = `${problem ? `${problem}; ` : ''}database changed: ${diffDumps(baseline, after).join('; ')}`;
      baseline = after; // report each write once
      baselineHash = hashDump(after);
    }
    return problem && `${problem} — answer ${res.status} ${res.text.slice(0, 300)}`;
  }

  const describeInput = (i: Input) => {
    const body = i.body === undefined ? '' : Buffer.isBuffer(i.body) ? `<${i.body.length} bytes: ${JSON.stringify(i.body.subarray(0, 120).toString('latin1'))}>` : JSON.stringify(i.body.length > 300 ? `${i.body.slice(0, 300)}… (${i.body.length} chars)` : i.body);
    return `${i.op} [${i.why}] ${i.method} ${i.path.length > 200 ? `${i.path.slice(0, 200)}…` : i.path} ${JSON.stringify({ ...i.headers, authorization: i.headers?.authorization ? '…' : undefined })} ${body}`;
  };

  async function runTable(inputs: Input[]): Promise<void> {
    const failures: string[] = [];
    for (const input of inputs) {
      counts.table++;
      const problem = await attempt(input);
      if (problem) failures.push(`${describeInput(input)}\n        → ${problem}`);
    }
    expect(failures, `${failures.length} of ${inputs.length} inputs were not refused cleanly:\n${failures.join('\n')}`).to.deep.equal([]);
  }

  async function runProperty(arb: fc.Arbitrary<Input>, numRuns = RUNS): Promise<void> {
    await fc.assert(
      fc.asyncProperty(arb, async (input) => {
        counts.property++;
        const problem = await attempt(input);
        if (problem) throw new Error(`${describeInput(input)}\n→ ${problem}`);
      }),
      { seed: SEED, numRuns, endOnFailure: true },
    );
  }

  function jsonApiProblem(res: RawResponse): string | undefined {
    if (!String(res.headers['content-type'] ?? '').startsWith(JSONAPI)) return `content-type ${res.headers['content-type']}`;
    const errors = res.body?.errors;
    if (!Array.isArray(errors) || errors.length === 0) return 'no errors[] in the body';
    for (const e of errors) {
      if (e.status !== String(res.status) || typeof e.code !== 'string' || typeof e.title !== 'string' || typeof e.detail !== 'string') return `malformed error object ${JSON.stringify(e)}`;
    }
    return undefined;
  }

  const headersFor = (e: { auth: 'admin' | 'basic' }, contentType = JSONAPI): Record<string, string> => ({
    authorization: e.auth === 'admin' ? auth.admin : auth.alpha,
    'content-type': contentType,
  });
  const documentOf = (e: JsonEndpoint, attributes: Record<string, unknown> = e.base, relationships = e.relationships) =>
    JSON.stringify({ data: { type: e.type, attributes, ...(relationships ? { relationships } : {}) } });

  function jsonEndpoints(): JsonEndpoint[] {
    const trunkAttrs = ['name', 'callback_url', 'allowed_ips', 'allow_any_did_as_source', 'dlr_events', 'blocked', 'external_reference_id', 'rate_limit_per_second', 'managed_by', 'managed_spec_hash', 'username', 'version', 'created_at', 'updated_at'];
    const trunkPoison: fc.Arbitrary<Poison> = fc.oneof(
      attr('name', badName),
      attr('callback_url', badUrl),
      attr('allowed_ips', badCidrList),
      attr('allow_any_did_as_source', badBool),
      attr('dlr_events', badBool),
      attr('blocked', badBool),
      attr('external_reference_id', badExternalRef),
      attr('rate_limit_per_second', badRate),
      attr('managed_by', badManagedBy),
      attr('managed_spec_hash', badSpecHash),
      unknownAttribute(trunkAttrs),
      badRelationship('dids').map((r) => ({ attributes: { allow_any_did_as_source: false }, relationships: { outgoing_dids: r } })),
      badRelationship('did_sets').map((r) => ({ attributes: { allow_any_did_as_source: false }, relationships: { outgoing_did_sets: r } })),
      fc.constant({ attributes: { allow_any_did_as_source: false } }),
      fc.constant({ attributes: { allow_any_did_as_source: true }, relationships: { outgoing_dids: rel('dids', [ALLOWED_SOURCE]) } }),
      fc.tuple(safeKey.filter((k) => !['outgoing_dids', 'outgoing_did_sets'].includes(k)), anyJson).map(([k, v]) => ({ relationships: { [k]: v } })),
    );
    const setAttrs = ['name', 'managed_by', 'managed_spec_hash', 'did_count', 'version', 'created_at', 'updated_at'];
    const setPoison: fc.Arbitrary<Poison> = fc.oneof(
      attr('name', badName),
      attr('managed_by', badManagedBy),
      attr('managed_spec_hash', badSpecHash),
      unknownAttribute(setAttrs),
      badRelationship('dids').map((r) => ({ relationships: { dids: r } })),
    );
    const didPoison = (patch: boolean) =>
      fc.oneof(
        attr('number', patch ? badE164.filter((n) => n !== '12125551235') : badE164),
        attr('capabilities', badCapabilities),
        attr('description', badDescription),
        unknownAttribute(['number', 'capabilities', 'description', 'created_at', 'updated_at']),
      );
    const sendPoison = (bulk: boolean) =>
      fc.oneof(
        bulk
          ? attr(
              'destination',
              fc.oneof(
                nonArray,
                fc.constant([]),
                fc.constant(Array(1001).fill('15551234567')),
                fc.tuple(fc.array(fc.constant('15551234567'), { maxLength: 3 }), badDigits.filter((d) => d !== null && d !== '')).map(([ok, bad]) => [...ok, bad]),
              ),
            )
          : attr('destination', badDigits),
        attr('source', fc.oneof(badDigits.filter((d) => d !== null && d !== ''), unknownSource)),
        attr('content', badContent),
        fc.constant({ attributes: { source: undefined, campaign_id: 'promo' } }),
      );
    const didBase = (n: string) => ({ number: n, capabilities: ['sms_out'], description: 'new' });
    return [
      { op: 'POST /outbound_messages', method: 'POST', url: '/outbound_messages', auth: 'basic', type: 'outbound_messages', base: { destination: '15551234567', source: ALLOWED_SOURCE, content: 'hello' }, textAttr: 'content', strictMembers: false, limitBytes: 512 * 1024, poison: sendPoison(false) },
      { op: 'POST /bulk_outbound_messages', method: 'POST', url: '/bulk_outbound_messages', auth: 'basic', type: 'bulk_outbound_messages', base: { destination: ['15551234567', '15551234561'], source: ALLOWED_SOURCE, content: 'hello' }, textAttr: 'content', strictMembers: false, limitBytes: 512 * 1024, poison: sendPoison(true) },
      { op: 'POST /v1/dids', method: 'POST', url: '/v1/dids', auth: 'admin', type: 'dids', base: didBase('12125559000'), textAttr: 'description', textRefusesControls: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: didPoison(false) },
      { op: 'PATCH /v1/dids/{number}', method: 'PATCH', url: '/v1/dids/12125551235', auth: 'admin', type: 'dids', base: { description: 'changed' }, textAttr: 'description', textRefusesControls: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: didPoison(true) },
      { op: 'POST /v1/did_sets', method: 'POST', url: '/v1/did_sets', auth: 'admin', type: 'did_sets', base: { name: 'fresh-set' }, relationships: { dids: rel('dids', ['12125551235']) }, textAttr: 'name', textRefusesControls: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: setPoison },
      { op: 'PUT /v1/did_sets/by-name/{name}', method: 'PUT', url: '/v1/did_sets/by-name/fresh-set', auth: 'admin', type: 'did_sets', base: {}, relationships: { dids: rel('dids', ['12125551235']) }, textAttr: 'managed_by', textRefusesControls: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: setPoison.filter((p) => !('name' in (p.attributes ?? {}))) },
      { op: 'PATCH /v1/did_sets/{id}', method: 'PATCH', url: `/v1/did_sets/${ids.set}`, auth: 'admin', type: 'did_sets', base: { name: 'renamed-set' }, textAttr: 'name', textRefusesControls: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: setPoison },
      { op: 'POST /v1/sms_trunks', method: 'POST', url: '/v1/sms_trunks', auth: 'admin', type: 'sms_trunks', base: { name: 'Gamma' }, textAttr: 'name', textRefusesControls: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: trunkPoison },
      { op: 'PUT /v1/sms_trunks/by-name/{name}', method: 'PUT', url: '/v1/sms_trunks/by-name/Gamma', auth: 'admin', type: 'sms_trunks', base: {}, textAttr: 'external_reference_id', textRefusesControls: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: trunkPoison.filter((p) => !('name' in (p.attributes ?? {}))) },
      { op: 'PUT /v1/sms_trunks/by-external-reference/{external_reference_id}', method: 'PUT', url: '/v1/sms_trunks/by-external-reference/ext-new', auth: 'admin', type: 'sms_trunks', base: { name: 'Delta' }, textAttr: 'name', textRefusesControls: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: trunkPoison.filter((p) => !('external_reference_id' in (p.attributes ?? {}))) },
      { op: 'PATCH /v1/sms_trunks/{id}', method: 'PATCH', url: `/v1/sms_trunks/${ids.alpha}`, auth: 'admin', type: 'sms_trunks', base: { name: 'Alpha 2', dlr_events: true }, textAttr: 'name', textRefusesControls: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: trunkPoison },
      { op: 'POST /v1/sms_trunks/{id}/credentials/regenerate', method: 'POST', url: `/v1/sms_trunks/${ids.alpha}/credentials/regenerate`, auth: 'admin', type: 'credential_regenerations', base: { grace_period_seconds: 60 }, allowEmpty: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: fc.oneof(attr('grace_period_seconds', badGrace), unknownAttribute(['grace_period_seconds'])) },
      { op: 'POST /v1/sms_trunks/{id}/credentials/share', method: 'POST', url: `/v1/sms_trunks/${ids.alpha}/credentials/share`, auth: 'admin', type: 'share_links', base: { recipient: 'ops', expires_in_seconds: 3600 }, allowEmpty: true, textAttr: 'recipient', strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: fc.oneof(attr('expires_in_seconds', badTtl), attr('recipient', badRecipient), unknownAttribute(['expires_in_seconds', 'recipient'])) },
      { op: 'POST /v1/sms_trunks/{id}/callback_secret/rotate', method: 'POST', url: `/v1/sms_trunks/${ids.alpha}/callback_secret/rotate`, auth: 'admin', type: 'callback_secret_rotations', base: { grace_period_seconds: 60 }, allowEmpty: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: attr('grace_period_seconds', badGrace) },
      { op: 'POST /v1/admin_tokens', method: 'POST', url: '/v1/admin_tokens', auth: 'admin', type: 'admin_tokens', base: { name: 'robot' }, textAttr: 'name', textRefusesControls: true, strictMembers: true, limitBytes: 25 * 1024 * 1024, poison: attr('name', badName) },
    ];
  }

  /** Could this arbitrary body be a valid request for the endpoint? (Then it is no bad input.) */
  const couldBeValid = (e: JsonEndpoint, v: unknown) =>
    (e.allowEmpty && (v === null || (isObj(v) && Object.keys(v).length === 0))) || (isObj(v) && isObj(v.data) && v.data.type === e.type);

  // ------------------------------------------------------------------ table-driven

  it('refuses requests without valid credentials, whatever the scheme, on every authenticated endpoint', async () => {
    const adminOps: Array<[string, string, string]> = [
      ['GET /v1', 'GET', '/v1'],
      ['GET /v1/dids', 'GET', '/v1/dids'],
      ['POST /v1/dids', 'POST', '/v1/dids'],
      ['POST /v1/dids/import', 'POST', '/v1/dids/import'],
      ['GET /v1/dids/{number}', 'GET', '/v1/dids/12125551234'],
      ['PATCH /v1/dids/{number}', 'PATCH', '/v1/dids/12125551235'],
      ['DELETE /v1/dids/{number}', 'DELETE', '/v1/dids/4930123456'],
      ['GET /v1/did_sets', 'GET', '/v1/did_sets'],
      ['POST /v1/did_sets', 'POST', '/v1/did_sets'],
      ['PUT /v1/did_sets/by-name/{name}', 'PUT', '/v1/did_sets/by-name/x'],
      ['DELETE /v1/did_sets/by-name/{name}', 'DELETE', '/v1/did_sets/by-name/senders?if_managed_spec_hash=x'],
      ['GET /v1/did_sets/{id}', 'GET', `/v1/did_sets/${ids.set}`],
      ['PATCH /v1/did_sets/{id}', 'PATCH', `/v1/did_sets/${ids.set}`],
      ['DELETE /v1/did_sets/{id}', 'DELETE', `/v1/did_sets/${ids.set}`],
      ['GET /v1/sms_trunks', 'GET', '/v1/sms_trunks'],
      ['POST /v1/sms_trunks', 'POST', '/v1/sms_trunks'],
      ['PUT /v1/sms_trunks/by-name/{name}', 'PUT', '/v1/sms_trunks/by-name/x'],
      ['PUT /v1/sms_trunks/by-external-reference/{external_reference_id}', 'PUT', '/v1/sms_trunks/by-external-reference/x'],
      ['DELETE /v1/sms_trunks/by-external-reference/{external_reference_id}', 'DELETE', '/v1/sms_trunks/by-external-reference/ext-alpha?if_managed_spec_hash=x'],
      ['GET /v1/sms_trunks/{id}', 'GET', `/v1/sms_trunks/${ids.alpha}`],
      ['PATCH /v1/sms_trunks/{id}', 'PATCH', `/v1/sms_trunks/${ids.alpha}`],
      ['DELETE /v1/sms_trunks/{id}', 'DELETE', `/v1/sms_trunks/${ids.alpha}`],
      ['GET /v1/sms_trunks/{id}/credentials', 'GET', `/v1/sms_trunks/${ids.alpha}/credentials`],
      ['POST /v1/sms_trunks/{id}/credentials/regenerate', 'POST', `/v1/sms_trunks/${ids.alpha}/credentials/regenerate`],
      ['POST /v1/sms_trunks/{id}/credentials/share', 'POST', `/v1/sms_trunks/${ids.alpha}/credentials/share`],
      ['GET /v1/sms_trunks/{id}/callback_secret', 'GET', `/v1/sms_trunks/${ids.alpha}/callback_secret`],
      ['POST /v1/sms_trunks/{id}/callback_secret/rotate', 'POST', `/v1/sms_trunks/${ids.alpha}/callback_secret/rotate`],
      ['GET /v1/sms_trunks/{id}/share_links', 'GET', `/v1/sms_trunks/${ids.alpha}/share_links`],
      ['DELETE /v1/share_links/{id}', 'DELETE', `/v1/share_links/${ids.share}`],
      ['GET /v1/audit_events', 'GET', '/v1/audit_events'],
      ['GET /v1/admin_tokens', 'GET', '/v1/admin_tokens'],
      ['POST /v1/admin_tokens', 'POST', '/v1/admin_tokens'],
      ['DELETE /v1/admin_tokens/{id}', 'DELETE', `/v1/admin_tokens/${ids.token}`],
      ['GET /v1/messages', 'GET', '/v1/messages'],
      ['GET /v1/messages/{id}', 'GET', `/v1/messages/${ids.message}`],
      ['POST /v1/callbacks/{id}/replay', 'POST', `/v1/callbacks/${ids.message}/replay`],
    ];
    const adminSchemes: Array<[string, string | undefined]> = [
      ['no Authorization', undefined],
      ['the trunk credentials as Basic', auth.alpha],
      ['the trunk password as a bearer token', `Bearer ${auth.alphaPassword}`],
      ['Basic carrying the admin token', `Basic ${b64(`admin:${t.token}`)}`],
      ['an empty bearer', 'Bearer'],
      ['a bearer of blanks', 'Bearer    '],
      ['a bearer with two tokens', `Bearer ${t.token} ${t.token}`],
      ['the token with one character more', `Bearer ${t.token}x`],
      ['the token with one character less', `Bearer ${t.token.slice(0, -1)}`],
      ['a 6000-character bearer', `Bearer ${'A'.repeat(6000)}`],
      ['the Token scheme', `Token ${t.token}`],
      ['Digest', `Digest username="admin", realm="x", nonce="1", uri="/v1", response="0"`],
      ['an unknown scheme', `Foo ${t.token}`],
      ['SQL in the bearer', "Bearer ' OR '1'='1"],
      ['latin-1 bytes', 'Bearer \xe9\xff\xfe'],
      ['the revoked token of another suite', 'Bearer sat_revoked_0000000000000000000000000000000000000000'],
    ];
    const sendOps: Array<[string, string, string, string | undefined]> = [
      ['POST /outbound_messages', 'POST', '/outbound_messages', JSON.stringify({ data: { type: 'outbound_messages', attributes: { destination: '15551234567', source: ALLOWED_SOURCE, content: 'x' } } })],
      ['POST /bulk_outbound_messages', 'POST', '/bulk_outbound_messages', JSON.stringify({ data: { type: 'bulk_outbound_messages', attributes: { destination: ['15551234567'], source: ALLOWED_SOURCE, content: 'x' } } })],
      ['GET /outbound_messages/{id}', 'GET', `/outbound_messages/${ids.message}`, undefined],
    ];
    const sendSchemes: Array<[string, string | undefined]> = [
      ['no Authorization', undefined],
      ['the admin token as a bearer', auth.admin],
      ['Basic without a value', 'Basic'],
      ['Basic that is not base64', 'Basic !!!***'],
      ['Basic without a colon', `Basic ${b64('out_nocolon')}`],
      ['Basic with an empty username', `Basic ${b64(`:${auth.alphaPassword}`)}`],
      ['Basic with an empty password', `Basic ${b64(`${auth.alphaUser}:`)}`],
      ['a wrong password', basic(auth.alphaUser, 'wrong-password')],
      ['the password in another case', basic(auth.alphaUser, auth.alphaPassword.toUpperCase() === auth.alphaPassword ? auth.alphaPassword.toLowerCase() : auth.alphaPassword.toUpperCase())],
      ['the password with a trailing blank', basic(auth.alphaUser, `${auth.alphaPassword} `)],
      ["another trunk's username with this password", basic(auth.betaUser, auth.alphaPassword)],
      ['the admin token as the password', basic(auth.alphaUser, t.token)],
      ['a NUL in the username', basic(`${auth.alphaUser}\u0000`, auth.alphaPassword)],
      ['control characters in the username', basic(`${auth.alphaUser}\r\n`, auth.alphaPassword)],
      ['bytes that are not UTF-8', `Basic ${b64(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`:${auth.alphaPassword}`)]))}`],
      ['SQL in the username', basic("' OR '1'='1' --", 'x')],
      ['a 4000-character username', basic('u'.repeat(4000), 'x')],
      ['Bearer carrying Basic credentials', `Bearer ${b64(`${auth.alphaUser}:${auth.alphaPassword}`)}`],
      ['Digest', `Digest username="${auth.alphaUser}"`],
    ];
    const inputs: Input[] = [];
    for (const [op, method, path] of adminOps) {
      for (const [why, value] of adminSchemes) {
        inputs.push({ op, why, method, path, headers: { ...(value === undefined ? {} : { authorization: value }), 'content-type': JSONAPI }, body: method === 'GET' || method === 'DELETE' ? undefined : '{}' });
      }
    }
    for (const [op, method, path, body] of sendOps) {
      for (const [why, value] of sendSchemes) {
        inputs.push({ op, why, method, path, headers: { ...(value === undefined ? {} : { authorization: value }), ...(body ? { 'content-type': JSONAPI } : {}) }, body });
      }
    }
    for (const [why, value] of [['no token', undefined], ['the admin token', auth.admin], ['the token as Basic', `Basic ${b64(`x:${METRICS_TOKEN}`)}`], ['one character more', `Bearer ${METRICS_TOKEN}x`]] as const) {
      // Documented: the Prometheus endpoint answers its 401 in plain text (see openapi.json).
      inputs.push({ op: 'GET /metrics', why, method: 'GET', path: '/metrics', headers: value ? { authorization: value } : {}, plain: true });
    }
    // A trunk whose allowed_ips exclude loopback, and a blocked trunk, with correct credentials.
    const good = sendOps[0]![3]!;
    inputs.push({ op: 'POST /outbound_messages', why: 'client IP outside allowed_ips', method: 'POST', path: '/outbound_messages', headers: { authorization: auth.fenced, 'content-type': JSONAPI }, body: good });
    inputs.push({ op: 'POST /outbound_messages', why: 'blocked trunk', method: 'POST', path: '/outbound_messages', headers: { authorization: auth.blocked, 'content-type': JSONAPI }, body: good });
    inputs.push({ op: 'GET /outbound_messages/{id}', why: 'client IP outside allowed_ips', method: 'GET', path: `/outbound_messages/${ids.message}`, headers: { authorization: auth.fenced } });
    await runTable(inputs);
  });

  it('refuses malformed, mistyped, oversized, deeply nested and mis-encoded bodies on every endpoint that takes one', async () => {
    const inputs: Input[] = [];
    const huge = new Map<number, Buffer>();
    const hugeBody = (limit: number) => huge.get(limit) ?? huge.set(limit, Buffer.alloc(limit + 1024, 0x20)).get(limit)!;
    for (const e of endpoints) {
      const add = (why: string, body: string | Buffer, contentType = JSONAPI, extra: Record<string, string> = {}) =>
        inputs.push({ op: e.op, why, method: e.method, path: e.url, headers: { ...headersFor(e, contentType), ...extra }, body });
      const valid = documentOf(e);
      // Content types: the body is valid, so the media type is the only thing wrong.
      for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', `${JSONAPI}; charset=latin1`, `${JSONAPI}; ext="https://x"`, 'application/xml', 'text/csv; charset=latin1']) add(`Content-Type ${ct}`, valid, ct);
      if (e.auth === 'basic') for (const ct of ['application/json', `${JSONAPI}; charset=utf-8`, 'APPLICATION/JSON']) add(`send API needs exactly ${JSONAPI}, got ${ct}`, valid, ct);
      add('no Content-Type', valid, '');
      // Syntax.
      for (const [why, body] of [
        ['an empty body', ''],
        ['an unclosed object', '{'],
        ['a cut-off document', valid.slice(0, -3)],
        ['a trailing comma', '{"data":{"type":"x",},}'],
        ['single quotes', "{'data':{'type':'x'}}"],
        ['an extra closing brace', `${valid}}`],
        ['two documents', `${valid}${valid}`],
        ['NaN', 'NaN'],
        ['a comment', `/* hi */${valid}`],
        ['a JSON number', '1'],
        ['a JSON string', '"data"'],
        ['true', 'true'],
        ['null', 'null'],
        ['an array', '[]'],
        ['an array holding the document', `[${valid}]`],
        ['a document without data', '{"meta":{}}'],
        ['data null', '{"data":null}'],
        ['data a string', '{"data":"x"}'],
        ['data an empty array', '{"data":[]}'],
        ['data without type', JSON.stringify({ data: { attributes: e.base } })],
        ['the wrong type', JSON.stringify({ data: { type: `${e.type}x`, attributes: e.base } })],
        ['type in another case', JSON.stringify({ data: { type: e.type.toUpperCase(), attributes: e.base } })],
        ['type a number', JSON.stringify({ data: { type: 7, attributes: e.base } })],
        ['attributes an array', JSON.stringify({ data: { type: e.type, attributes: [e.base] } })],
        ['attributes a string', JSON.stringify({ data: { type: e.type, attributes: 'x' } })],
        ['__proto__ as the document', `{"__proto__":${valid}}`],
        ['data as __proto__', `{"data":{"__proto__":{"type":"${e.type}"}}}`],
      ] as const) {
        if (why === 'an empty body' && e.allowEmpty) continue; // no body = the defaults, by design
        add(why, body);
      }
      // The management API skips a UTF-8 byte-order mark, as RFC 8259 section 8.1 allows; the send API does not.
      if (!e.strictMembers) add('a byte-order mark', `\ufeff${valid}`);
      if (!e.allowEmpty) add('an empty object', '{}');
      if (e.strictMembers) {
        add('an unknown member of data', JSON.stringify({ data: { type: e.type, attributes: e.base, extra: 1 } }));
        add('a numeric id', JSON.stringify({ data: { type: e.type, id: 5, attributes: e.base } }));
        add('relationships a number', JSON.stringify({ data: { type: e.type, attributes: e.base, relationships: 5 } }));
      }
      // Nesting deep enough to overflow a recursive serialiser.
      const firstKey = Object.keys(e.base)[0] ?? 'x';
      const inAttr = (raw: string) => `{"data":{"type":"${e.type}","attributes":{"${firstKey}":${raw}}}}`;
      add('an attribute nested 20,000 arrays deep', inAttr(deepArray(20_000)));
      add('an attribute nested 5,000 objects deep', inAttr(deepObject(5_000)));
      if (e.limitBytes > 1_000_000) add('an attribute nested 200,000 arrays deep', inAttr(deepArray(200_000)));
      add('a body nested 50,000 arrays deep', deepArray(50_000));
      add('a body nested 20,000 objects deep', deepObject(20_000));
      // Encodings: bad bytes inside a stored text attribute (or an ignored member when there is none).
      const target = e.textAttr ?? '__note';
      const withText = (placeholder: string) => documentOf(e, { ...e.base, [target]: placeholder });
      const rawInto = (bytes: number[]) => {
        const [head, tail] = withText('@@@').split('@@@');
        return Buffer.concat([Buffer.from(head!), Buffer.from(bytes), Buffer.from(tail!)]);
      };
      for (const [why, bytes] of [
        ['a 0xFF byte', [0x61, 0xff, 0x62]],
        ['an overlong "/" (C0 AF)', [0xc0, 0xaf]],
        ['a UTF-8-encoded surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
        ['a truncated 3-byte sequence', [0xe2, 0x82]],
        ['a lone continuation byte', [0x80]],
        ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
        ['Latin-1 "é"', [0xe9]],
        ['a raw NUL byte', [0x00]],
      ] as const) add(`text with ${why}`, rawInto([...bytes]));
      add('text with an escaped NUL', withText('a\u0000b'));
      add('text in UTF-16', Buffer.from(`\ufeff${valid}`, 'utf16le'));
      if (e.textRefusesControls) for (const c of ['\u0001', '\u0008', '\u001b', '\u007f', 'a\nb']) add(`text with control ${JSON.stringify(c)}`, withText(`x${c}y`));
      add('text with a lone high surrogate', withText('x\ud800y'));
      // Size.
      add(`a body over the ${e.limitBytes}-byte limit`, hugeBody(e.limitBytes));
      add('a gzip body that does not inflate', Buffer.from('not gzip at all'), JSONAPI, { 'content-encoding': 'gzip' });
      add('a gzip bomb over the limit', zlib.gzipSync(hugeBody(e.limitBytes)), JSONAPI, { 'content-encoding': 'gzip' });
      add('a brotli body that does not inflate', Buffer.from('not brotli'), JSONAPI, { 'content-encoding': 'br' });
      add('an unknown Content-Encoding', valid, JSONAPI, { 'content-encoding': 'x-zip' });
    }
    // CSV import: the only endpoint with a second media type.
    const csv = (why: string, body: string | Buffer, ct = 'text/csv') =>
      inputs.push({ op: 'POST /v1/dids/import', why, method: 'POST', path: '/v1/dids/import', headers: { authorization: auth.admin, 'content-type': ct }, body });
    for (const [why, body] of [
      ['an empty CSV', ''],
      ['a header only', 'number,capabilities,description\n'],
      ['an unclosed quote', 'number,capabilities,description\n"12125550001,sms_out,x\n'],
      ['a bad number', 'number\n+12125550001\n'],
      ['a good row and a bad row (all or nothing)', 'number,capabilities\n12125550001,sms_out\n12125550002,fax\n'],
      ['formula injection', 'number,capabilities,description\n=cmd|calc!A1,sms_out,x\n'],
      ['SQL in a number', "number\n1212555'); DROP TABLE dids; --\n"],
      ['a control character in a description', 'number,capabilities,description\n12125550001,sms_out,a\u0007b\n'],
      ['a raw NUL in a description', 'number,capabilities,description\n12125550001,sms_out,a\u0000b\n'],
      ['too many columns', 'number,capabilities,description\n12125550001,sms_out,x,y,z\n'],
      ['an unknown column', 'number,colour\n12125550001,red\n'],
    ] as const) csv(why, body);
    csv('bytes that are not UTF-8 in a description', Buffer.concat([Buffer.from('number,capabilities,description\n12125550001,sms_out,a'), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]));
    csv('a CSV over the 20 MB limit', Buffer.alloc(20 * 1024 * 1024 + 1024, 0x31));
    csv('CSV as text/csv; charset=latin1', 'number\n12125550001\n', 'text/csv; charset=latin1');
    for (const [why, body] of [
      ['rows that are not dids', JSON.stringify({ data: [{ type: 'trunks', attributes: { number: '12125550001' } }] })],
      ['a row with a bad number', JSON.stringify({ data: [{ type: 'dids', attributes: { number: '12125550001' } }, { type: 'dids', attributes: { number: 'x' } }] })],
      ['an empty data array', JSON.stringify({ data: [] })],
      ['data an object', JSON.stringify({ data: { type: 'dids', attributes: { number: '12125550001' } } })],
      ['a row id with a NUL', JSON.stringify({ data: [{ type: 'dids', id: '1212555\u00000001' }] })],
    ] as const) inputs.push({ op: 'POST /v1/dids/import', why, method: 'POST', path: '/v1/dids/import', headers: { authorization: auth.admin, 'content-type': JSONAPI }, body });
    // The share redemption takes a form; a bad token with any body is still a 404.
    inputs.push({ op: 'POST /share/{token}', why: 'a body over the 1 kB form limit', method: 'POST', path: '/share/shr_nothing', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: JSONAPI }, body: `a=${'x'.repeat(4096)}` });
    await runTable(inputs);
  });

  it('refuses bad ids in paths (traversal, injection, encodings) with 404 or 400 and touches nothing', async () => {
    const badIds = [
      '..', '..%2F..%2Fetc%2Fpasswd', '..%2f..%2f..%2fapp.js', '%2e%2e', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '....%2F%2F....%2F%2F', '..%5C..%5Cwindows', '%252e%252e%252f',
      '%00', 'x%00y', '%0A', '%0D%0ASet-Cookie:%20a=b', '%7F', '%E2%80%AE', '%F0%9F%92%A9', '%C0%AF', '%C0%80', '%ED%A0%80', '%FF', '%', '%zz', '%2', '%25',
      "'%20OR%20'1'%3D'1", '1%3BDROP%20TABLE%20messages', '1%20UNION%20SELECT%20*%20FROM%20admin_tokens', '%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E', '%24%7Bjndi%3Aldap%3A%2F%2Fx%7D',
      'null', 'undefined', '__proto__', 'constructor', 'prototype', 'toString', '*', '%2A', '-1', '0', '1e3', '0x10', 'NaN', 'true', '[]', '%7B%7D',
      'x'.repeat(3000),
    ];
    const ops: Array<[string, string, (id: string) => string, string?]> = [
      ['GET /v1/dids/{number}', 'GET', (id) => `/v1/dids/${id}`],
      ['PATCH /v1/dids/{number}', 'PATCH', (id) => `/v1/dids/${id}`, JSON.stringify({ data: { type: 'dids', attributes: { description: 'x' } } })],
      ['DELETE /v1/dids/{number}', 'DELETE', (id) => `/v1/dids/${id}`],
      ['GET /v1/did_sets/{id}', 'GET', (id) => `/v1/did_sets/${id}`],
      ['PATCH /v1/did_sets/{id}', 'PATCH', (id) => `/v1/did_sets/${id}`, JSON.stringify({ data: { type: 'did_sets', attributes: { name: 'renamed' } } })],
      ['DELETE /v1/did_sets/{id}', 'DELETE', (id) => `/v1/did_sets/${id}`],
      ['GET /v1/sms_trunks/{id}', 'GET', (id) => `/v1/sms_trunks/${id}`],
      ['PATCH /v1/sms_trunks/{id}', 'PATCH', (id) => `/v1/sms_trunks/${id}`, JSON.stringify({ data: { type: 'sms_trunks', attributes: { dlr_events: true } } })],
      ['DELETE /v1/sms_trunks/{id}', 'DELETE', (id) => `/v1/sms_trunks/${id}`],
      ['GET /v1/sms_trunks/{id}/credentials', 'GET', (id) => `/v1/sms_trunks/${id}/credentials`],
      ['POST /v1/sms_trunks/{id}/credentials/regenerate', 'POST', (id) => `/v1/sms_trunks/${id}/credentials/regenerate`, '{}'],
      ['POST /v1/sms_trunks/{id}/credentials/share', 'POST', (id) => `/v1/sms_trunks/${id}/credentials/share`, '{}'],
      ['GET /v1/sms_trunks/{id}/callback_secret', 'GET', (id) => `/v1/sms_trunks/${id}/callback_secret`],
      ['POST /v1/sms_trunks/{id}/callback_secret/rotate', 'POST', (id) => `/v1/sms_trunks/${id}/callback_secret/rotate`, '{}'],
      ['GET /v1/sms_trunks/{id}/share_links', 'GET', (id) => `/v1/sms_trunks/${id}/share_links`],
      ['DELETE /v1/share_links/{id}', 'DELETE', (id) => `/v1/share_links/${id}`],
      ['DELETE /v1/admin_tokens/{id}', 'DELETE', (id) => `/v1/admin_tokens/${id}`],
      ['GET /v1/messages/{id}', 'GET', (id) => `/v1/messages/${id}`],
      ['POST /v1/callbacks/{id}/replay', 'POST', (id) => `/v1/callbacks/${id}/replay`],
      ['GET /outbound_messages/{id}', 'GET', (id) => `/outbound_messages/${id}`],
      ['GET /share/{token}', 'GET', (id) => `/share/${id}`],
      ['POST /share/{token}', 'POST', (id) => `/share/${id}`],
    ];
    const inputs: Input[] = [];
    for (const [op, method, url, body] of ops) {
      const headers: Record<string, string> = op.startsWith('GET /outbound') ? { authorization: auth.alpha } : op.includes('/share/') ? { accept: JSONAPI } : { authorization: auth.admin };
      if (body) headers['content-type'] = JSONAPI;
      for (const id of badIds) inputs.push({ op, why: `id ${id.slice(0, 40)}`, method, path: url(id), headers, body });
      // Raw traversal that a client sends unencoded: it must not reach a sibling route.
      for (const raw of ['../../etc/passwd', '../admin_tokens', './', '.%2e/']) inputs.push({ op, why: `raw ${raw}`, method, path: url(raw), headers, body });
      // Ids that exist elsewhere: a trunk id where a set id goes, and case or whitespace variants.
      for (const [why, id] of [
        ['a trunk id as this id', ids.beta],
        ['a message id as this id', ids.message],
        ['an id in upper case', ids.alpha.toUpperCase()],
        ['an id with a trailing blank', `${ids.set}%20`],
        ['an id with a leading blank', `%20${ids.alpha}`],
      ] as const) {
        if (op.includes('/sms_trunks/') && why === 'a trunk id as this id') continue; // that one exists
        if (op.startsWith('GET /v1/messages') && why === 'a message id as this id') continue;
        if (op.startsWith('GET /outbound_messages') && why === 'a message id as this id') continue;
        inputs.push({ op, why, method, path: url(id), headers, body });
      }
    }
    // Names and references that name the resource in upserts: blank, too long, control characters.
    for (const [op, prefix, body] of [
      ['PUT /v1/sms_trunks/by-name/{name}', '/v1/sms_trunks/by-name/', { data: { type: 'sms_trunks', attributes: {} } }],
      ['PUT /v1/did_sets/by-name/{name}', '/v1/did_sets/by-name/', { data: { type: 'did_sets', attributes: {} } }],
      ['PUT /v1/sms_trunks/by-external-reference/{external_reference_id}', '/v1/sms_trunks/by-external-reference/', { data: { type: 'sms_trunks', attributes: { name: 'Epsilon' } } }],
    ] as const) {
      // Blank names are refused; a blank external reference is printable text, so it is valid.
      for (const key of [...(op.includes('external') ? [] : ['%20%20']), '%01', 'a%0Ab', 'a%7Fb', '%00', 'x'.repeat(101), '%C0%AF', '%FF']) {
        inputs.push({ op, why: `key ${key.slice(0, 20)}`, method: 'PUT', path: `${prefix}${key}`, headers: { authorization: auth.admin, 'content-type': JSONAPI }, body: JSON.stringify(body) });
      }
    }
    await runTable(inputs);
  });

  it('refuses bad query parameters and headers with 400 or 412, even when the body is valid', async () => {
    const admin = { authorization: auth.admin };
    const json = { ...admin, 'content-type': JSONAPI };
    const inputs: Input[] = [];
    const q = (op: string, path: string, why: string) => inputs.push({ op, why, method: 'GET', path, headers: admin });
    for (const [op, path] of [
      ['GET /v1/dids', '/v1/dids'],
      ['GET /v1/did_sets', '/v1/did_sets'],
      ['GET /v1/sms_trunks', '/v1/sms_trunks'],
      ['GET /v1/audit_events', '/v1/audit_events'],
      ['GET /v1/messages', '/v1/messages'],
    ] as const) {
      for (const bad of ['page[size]=0', 'page[size]=-1', 'page[size]=1001', 'page[size]=abc', 'page[size]=1.5', 'page[size]=1e3', 'page[size]=', 'page[size]=%00', 'page[number]=0', 'page[number]=99999999', 'page[size]=1&page[size]=2', 'page[number]=%EF%BC%91']) {
        q(op, `${path}?${bad.replace(/\[/g, '%5B').replace(/\]/g, '%5D')}`, bad);
      }
    }
    for (const [op, path] of [
      ['GET /v1/dids', '/v1/dids?filter%5Bnumber%5D=abc'],
      ['GET /v1/dids', "/v1/dids?filter%5Bnumber%5D=1'%20OR%201%3D1"],
      ['GET /v1/dids', '/v1/dids?filter%5Bcapability%5D=fax'],
      ['GET /v1/dids', '/v1/dids?filter%5Bcapability%5D=sms_out&filter%5Bcapability%5D=sms_in'],
      ['GET /v1/sms_trunks', '/v1/sms_trunks?sort=password'],
      ['GET /v1/sms_trunks', '/v1/sms_trunks?sort=name%3B%20DROP%20TABLE%20sms_trunks'],
      ['GET /v1/sms_trunks', '/v1/sms_trunks?filter%5Bname%5D=%00'],
      ['GET /v1/audit_events', '/v1/audit_events?filter%5Bsince%5D=yesterday'],
      ['GET /v1/audit_events', '/v1/audit_events?filter%5Buntil%5D=2026-13-45T99%3A00%3A00Z'],
      ['GET /v1/audit_events', '/v1/audit_events?filter%5Bactor%5D=%00'],
      ['GET /v1/messages', '/v1/messages?filter%5Bstatus%5D=lost'],
      ['GET /v1/messages', '/v1/messages?filter%5Bsince%5D=%27%20OR%201%3D1'],
      ['GET /v1/messages', '/v1/messages?filter%5Btrunk%5D=%00'],
      ['DELETE /v1/did_sets/by-name/{name}', '/v1/did_sets/by-name/senders'],
      ['DELETE /v1/sms_trunks/by-external-reference/{external_reference_id}', '/v1/sms_trunks/by-external-reference/ext-alpha?if_managed_spec_hash='],
      ['DELETE /v1/sms_trunks/by-external-reference/{external_reference_id}', '/v1/sms_trunks/by-external-reference/ext-alpha?if_managed_spec_hash=a&if_managed_spec_hash=b'],
    ] as const) {
      const method = op.split(' ')[0]!;
      inputs.push({ op, why: decodeURIComponent(path.split('?')[1] ?? 'no if_managed_spec_hash'), method, path, headers: admin });
    }
    // A valid change with a bad force flag or a stale / malformed If-Match is refused before anything is written.
    const patchTrunk = JSON.stringify({ data: { type: 'sms_trunks', attributes: { dlr_events: true } } });
    const patchSet = JSON.stringify({ data: { type: 'did_sets', attributes: { name: 'renamed' } } });
    for (const [op, path, body] of [
      ['PATCH /v1/sms_trunks/{id}', `/v1/sms_trunks/${ids.alpha}`, patchTrunk],
      ['PATCH /v1/did_sets/{id}', `/v1/did_sets/${ids.set}`, patchSet],
    ] as const) {
      for (const force of ['maybe', 'yes', '2', '%00', 'true&force=false']) inputs.push({ op, why: `force=${force}`, method: 'PATCH', path: `${path}?force=${force}`, headers: json, body });
      // ("*" is left out: it means "any version" (RFC 9110) and is accepted.)
      for (const ifMatch of ['"999"', 'W/"0"', 'garbage', '"1", "2"', '""', '"-1"', `"${'9'.repeat(40)}"`]) inputs.push({ op, why: `If-Match ${ifMatch}`, method: 'PATCH', path, headers: { ...json, 'if-match': ifMatch }, body });
    }
    for (const [op, path] of [
      ['DELETE /v1/sms_trunks/{id}', `/v1/sms_trunks/${ids.beta}`],
      ['DELETE /v1/did_sets/{id}', `/v1/did_sets/${ids.set}`],
    ] as const) {
      for (const ifMatch of ['"999"', 'garbage']) inputs.push({ op, why: `If-Match ${ifMatch}`, method: 'DELETE', path, headers: { ...admin, 'if-match': ifMatch } });
      inputs.push({ op, why: 'force=maybe', method: 'DELETE', path: `${path}?force=maybe`, headers: admin });
    }
    inputs.push({ op: 'DELETE /v1/dids/{number}', why: 'force=maybe', method: 'DELETE', path: '/v1/dids/4930123456?force=maybe', headers: admin });
    inputs.push({ op: 'PATCH /v1/dids/{number}', why: 'force=maybe', method: 'PATCH', path: '/v1/dids/12125551235?force=maybe', headers: json, body: JSON.stringify({ data: { type: 'dids', attributes: { description: 'x' } } }) });
    inputs.push({ op: 'POST /v1/dids/import', why: 'force=maybe', method: 'POST', path: '/v1/dids/import?force=maybe', headers: { ...admin, 'content-type': 'text/csv' }, body: 'number\n12125550001\n' });
    // The send API: a valid message with a malformed Idempotency-Key is refused, not sent.
    const message = JSON.stringify({ data: { type: 'outbound_messages', attributes: { destination: '15551234567', source: ALLOWED_SOURCE, content: 'x' } } });
    for (const key of ['', 'a b', 'k'.repeat(256), '\xe9t\xe9', 'tab\there']) {
      inputs.push({ op: 'POST /outbound_messages', why: `Idempotency-Key ${JSON.stringify(key.slice(0, 20))}`, method: 'POST', path: '/outbound_messages', headers: { authorization: auth.alpha, 'content-type': JSONAPI, 'idempotency-key': key }, body: message });
    }
    // A source that exists but that this trunk may not use (422), and every kind of bad send document.
    inputs.push({ op: 'POST /outbound_messages', why: 'a source outside the trunk\'s set', method: 'POST', path: '/outbound_messages', headers: { authorization: auth.beta, 'content-type': JSONAPI }, body: message.replace(ALLOWED_SOURCE, '12125551235') });
    inputs.push({ op: 'POST /outbound_messages', why: 'a DID without sms_out as source', method: 'POST', path: '/outbound_messages', headers: { authorization: auth.alpha, 'content-type': JSONAPI }, body: message.replace(ALLOWED_SOURCE, '4930123456') });
    const send = (op: 'POST /outbound_messages' | 'POST /bulk_outbound_messages', why: string, attributes: Record<string, unknown>, type?: string) =>
      inputs.push({
        op,
        why,
        method: 'POST',
        path: op.slice(5),
        headers: { authorization: auth.alpha, 'content-type': JSONAPI },
        body: JSON.stringify({ data: { type: type ?? op.slice(6), attributes } }),
      });
    const ok = { destination: '15551234567', source: ALLOWED_SOURCE, content: 'hello' };
    for (const [why, attrs] of [
      ['destination with +', { ...ok, destination: '+15551234567' }],
      ['destination of 2 digits', { ...ok, destination: '12' }],
      ['destination of 16 digits', { ...ok, destination: '1234567890123456' }],
      ['destination a number', { ...ok, destination: 15551234567 }],
      ['destination an array', { ...ok, destination: ['15551234567'] }],
      ['destination with spaces', { ...ok, destination: '1 555 123 4567' }],
      ['destination in Arabic-Indic digits', { ...ok, destination: '١٥٥٥١٢٣٤٥٦٧' }],
      ['destination with SQL', { ...ok, destination: "1555'; DROP TABLE messages; --" }],
      ['destination missing', { source: ok.source, content: ok.content }],
      ['source missing', { destination: ok.destination, content: ok.content }],
      ['campaign_id without source', { destination: ok.destination, content: ok.content, campaign_id: 'promo' }],
      ['source alphanumeric', { ...ok, source: 'ACME' }],
      ['source that is no DID', { ...ok, source: '19995550000' }],
      ['content empty', { ...ok, content: '' }],
      ['content a number', { ...ok, content: 42 }],
      ['content null', { ...ok, content: null }],
      ['content an object', { ...ok, content: { text: 'x' } }],
      ['content of 1531 GSM-7 characters (11 segments)', { ...ok, content: 'a'.repeat(1531) }],
      ['content of 766 euro signs (1532 septets)', { ...ok, content: '€'.repeat(766) }],
      ['content of 671 UCS-2 units', { ...ok, content: 'я'.repeat(671) }],
      ['content of 336 emoji (672 units)', { ...ok, content: '😀'.repeat(336) }],
      ['content with a lone surrogate', { ...ok, content: 'a\ud83db' }],
      ['content with a NUL', { ...ok, content: 'a\u0000b' }],
    ] as const) send('POST /outbound_messages', why, attrs);
    send('POST /outbound_messages', 'a bulk document on the single endpoint', { ...ok, destination: [ok.destination] }, 'bulk_outbound_messages');
    const bulkOk = { ...ok, destination: ['15551234567'] };
    for (const [why, attrs] of [
      ['no destinations', { ...bulkOk, destination: [] }],
      ['1001 destinations', { ...bulkOk, destination: Array.from({ length: 1001 }, (_, i) => `1555${String(1_000_000 + i)}`) }],
      ['1000 good destinations and one bad', { ...bulkOk, destination: [...Array.from({ length: 999 }, (_, i) => `1555${String(1_000_000 + i)}`), '+1'] }],
      ['1000 bad destinations', { ...bulkOk, destination: Array(1000).fill('x') }],
      ['destination a string', { ...bulkOk, destination: '15551234567' }],
      ['nested destination arrays', { ...bulkOk, destination: [['15551234567']] }],
      ['a null destination', { ...bulkOk, destination: ['15551234567', null] }],
      ['content too long', { ...bulkOk, content: 'x'.repeat(1531) }],
    ] as const) send('POST /bulk_outbound_messages', why, attrs);
    send('POST /bulk_outbound_messages', 'a single document on the bulk endpoint', ok, 'outbound_messages');
    // Methods and routes that do not exist.
    for (const [method, path] of [['PUT', '/v1/dids'], ['DELETE', '/v1/sms_trunks'], ['PATCH', '/outbound_messages'], ['POST', '/v1/messages'], ['GET', '/v1/nope'], ['GET', '/v2/dids'], ['POST', '/v1/callbacks'], ['TRACE', '/v1/dids']] as const) {
      inputs.push({ op: `${method} ${path}`, why: 'no such route', method, path, headers: json, body: method === 'GET' || method === 'TRACE' ? undefined : '{}' });
    }
    // Header larger than Node's 16 kB limit: answered by Node's HTTP parser (431, no body), before the app.
    inputs.push({ op: 'GET /v1/dids', why: 'a 20 kB header', method: 'GET', path: '/v1/dids', headers: { ...admin, 'x-big': 'a'.repeat(20_000) }, plain: true });
    await runTable(inputs);
  });

  it('answers injection in free-text filters with nothing found and no change', async () => {
    const admin = { authorization: auth.admin };
    const empty = (res: RawResponse) => (Array.isArray(res.body?.data) && res.body.data.length === 0 ? undefined : `200 with ${res.body?.data?.length} rows`);
    const inputs: Input[] = [];
    // (A lone backslash is left out: LIKE metacharacters are stripped from filter[q], so it searches for everything.)
    for (const s of ["' OR '1'='1", "'); DELETE FROM sms_trunks; --", '" OR ""="', '1; UPDATE admin_tokens SET revoked_at = NULL', "\\'", '$ne', '{"$gt":""}', '<script>alert(1)</script>', '${7*7}', '../../etc/passwd']) {
      const v = encodeURIComponent(s);
      for (const [op, path] of [
        ['GET /v1/sms_trunks', `/v1/sms_trunks?filter%5Bname%5D=${v}`],
        ['GET /v1/sms_trunks', `/v1/sms_trunks?filter%5Bq%5D=${v}`],
        ['GET /v1/sms_trunks', `/v1/sms_trunks?filter%5Bexternal_reference_id%5D=${v}`],
        ['GET /v1/did_sets', `/v1/did_sets?filter%5Bname%5D=${v}`],
        ['GET /v1/audit_events', `/v1/audit_events?filter%5Bactor%5D=${v}`],
        ['GET /v1/audit_events', `/v1/audit_events?filter%5Bresource_id%5D=${v}`],
        ['GET /v1/messages', `/v1/messages?filter%5Btrunk%5D=${v}`],
      ] as const) {
        counts.queries++;
        inputs.push({ op, why: `filter ${s}`, method: 'GET', path, headers: admin, allowOk: (res) => (counts.queriesOk++, empty(res)) });
      }
    }
    await runTable(inputs);
  });

  // ------------------------------------------------------------------ property-based

  it('property: any JSON value as the body of any endpoint that takes one is refused', async () => {
    const arb = fc
      .tuple(fc.constantFrom(...endpoints), fc.jsonValue({ maxDepth: 5 }))
      .filter(([e, v]) => !couldBeValid(e, v))
      .map(([e, v]): Input => ({ op: e.op, why: 'any JSON', method: e.method, path: e.url, headers: headersFor(e), body: JSON.stringify(v) }));
    await runProperty(arb, RUNS * 2);
  });

  it('property: a valid document with one poisoned attribute or relationship is refused as a whole', async () => {
    const arb = fc
      .constantFrom(...endpoints)
      .chain((e) => e.poison.map((p) => ({ e, p })))
      .map(({ e, p }): Input => {
        const attributes = { ...e.base, ...p.attributes };
        for (const [k, v] of Object.entries(attributes)) if (v === undefined) delete attributes[k];
        const relationships = p.relationships ? { ...e.relationships, ...p.relationships } : e.relationships;
        return { op: e.op, why: `poisoned ${JSON.stringify(p).slice(0, 120)}`, method: e.method, path: e.url, headers: headersFor(e), body: documentOf(e, attributes, relationships) };
      });
    await runProperty(arb, RUNS * 4);
  });

  it('property: arbitrary bytes as a body are refused', async () => {
    const arb = fc
      .tuple(fc.constantFrom(...endpoints), fc.uint8Array({ maxLength: 512 }))
      .filter(([e, bytes]) => {
        if (bytes.length === 0) return !e.allowEmpty; // no body = the defaults there
        try {
          return !couldBeValid(e, JSON.parse(Buffer.from(bytes).toString('utf8')));
        } catch {
          return true;
        }
      })
      .map(([e, bytes]): Input => ({ op: e.op, why: 'random bytes', method: e.method, path: e.url, headers: headersFor(e), body: Buffer.from(bytes) }));
    await runProperty(arb);
  });

  it('property: arbitrary ids, raw bytes included, in every id route are refused', async () => {
    const known = new Set(['12125551234', '12125551235', '4930123456', ...Object.values(ids)]);
    const routes: Array<[string, string, (id: string) => string, 'admin' | 'basic' | 'none']> = [
      ['GET /v1/dids/{number}', 'GET', (id) => `/v1/dids/${id}`, 'admin'],
      ['DELETE /v1/dids/{number}', 'DELETE', (id) => `/v1/dids/${id}`, 'admin'],
      ['GET /v1/did_sets/{id}', 'GET', (id) => `/v1/did_sets/${id}`, 'admin'],
      ['DELETE /v1/did_sets/{id}', 'DELETE', (id) => `/v1/did_sets/${id}`, 'admin'],
      ['GET /v1/sms_trunks/{id}', 'GET', (id) => `/v1/sms_trunks/${id}`, 'admin'],
      ['DELETE /v1/sms_trunks/{id}', 'DELETE', (id) => `/v1/sms_trunks/${id}`, 'admin'],
      ['GET /v1/sms_trunks/{id}/credentials', 'GET', (id) => `/v1/sms_trunks/${id}/credentials`, 'admin'],
      ['GET /v1/sms_trunks/{id}/callback_secret', 'GET', (id) => `/v1/sms_trunks/${id}/callback_secret`, 'admin'],
      ['DELETE /v1/share_links/{id}', 'DELETE', (id) => `/v1/share_links/${id}`, 'admin'],
      ['DELETE /v1/admin_tokens/{id}', 'DELETE', (id) => `/v1/admin_tokens/${id}`, 'admin'],
      ['GET /v1/messages/{id}', 'GET', (id) => `/v1/messages/${id}`, 'admin'],
      ['POST /v1/callbacks/{id}/replay', 'POST', (id) => `/v1/callbacks/${id}/replay`, 'admin'],
      ['GET /outbound_messages/{id}', 'GET', (id) => `/outbound_messages/${id}`, 'basic'],
      ['GET /share/{token}', 'GET', (id) => `/share/${id}`, 'none'],
      ['POST /share/{token}', 'POST', (id) => `/share/${id}`, 'none'],
    ];
    const id = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => !known.has(s)).map((s) => pct(s)),
      fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => pct(b)),
      fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }).filter((s) => !known.has(s) && s !== '.' && s !== '..').map((s) => encodeURIComponent(s)),
    );
    const arb = fc.tuple(fc.constantFrom(...routes), id).map(([[op, method, url, who], i]): Input => ({
      op,
      why: `id ${i.slice(0, 60)}`,
      method,
      path: url(i),
      headers: who === 'admin' ? { authorization: auth.admin } : who === 'basic' ? { authorization: auth.alpha } : { accept: JSONAPI },
    }));
    await runProperty(arb, RUNS * 2);
  });

  it('property: arbitrary Authorization headers never get in', async () => {
    const latin1 = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 80 });
    const value = fc.oneof(
      latin1,
      latin1.map((s) => `Bearer ${s}`),
      latin1.map((s) => `Basic ${s}`),
      fc.tuple(latin1, latin1).map(([u, p]) => `Basic ${b64(`${u}:${p}`)}`),
      fc.tuple(fc.constant(auth.alphaUser), latin1.filter((p) => p !== auth.alphaPassword)).map(([u, p]) => `Basic ${b64(`${u}:${p}`)}`),
      latin1.filter((s) => s !== t.token && s !== auth.extraToken).map((s) => `Bearer ${s}`),
    );
    const targets: Array<[string, string, string, string | undefined]> = [
      ['GET /v1/sms_trunks', 'GET', '/v1/sms_trunks', undefined],
      ['POST /v1/admin_tokens', 'POST', '/v1/admin_tokens', JSON.stringify({ data: { type: 'admin_tokens', attributes: { name: 'intruder' } } })],
      ['DELETE /v1/sms_trunks/{id}', 'DELETE', `/v1/sms_trunks/${ids.beta}`, undefined],
      ['POST /outbound_messages', 'POST', '/outbound_messages', JSON.stringify({ data: { type: 'outbound_messages', attributes: { destination: '15551234567', source: ALLOWED_SOURCE, content: 'x' } } })],
      ['GET /outbound_messages/{id}', 'GET', `/outbound_messages/${ids.message}`, undefined],
    ];
    const arb = fc.tuple(fc.constantFrom(...targets), value).map(([[op, method, path, body], v]): Input => ({
      op,
      why: `Authorization ${JSON.stringify(v.slice(0, 60))}`,
      method,
      path,
      headers: { authorization: v, ...(body ? { 'content-type': JSONAPI } : {}) },
      body,
    }));
    await runProperty(arb);
  });

  it('property: arbitrary query parameters on the list endpoints never cause a 5xx or a write', async () => {
    const keys = fc.oneof(
      fc.constantFrom('page[size]', 'page[number]', 'filter[number]', 'filter[capability]', 'filter[name]', 'filter[q]', 'filter[status]', 'filter[since]', 'filter[until]', 'filter[trunk]', 'filter[actor]', 'filter[action]', 'sort', 'force'),
      fc.string({ maxLength: 10 }),
    );
    const params = fc.array(fc.tuple(keys, fc.string({ unit: 'binary', maxLength: 30 })), { minLength: 1, maxLength: 4 });
    const arb = fc.tuple(fc.constantFrom('/v1/dids', '/v1/did_sets', '/v1/sms_trunks', '/v1/audit_events', '/v1/messages'), params).map(([path, ps]): Input => {
      const query = ps.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&');
      counts.queries++;
      return { op: `GET ${path}`, why: `query ${query.slice(0, 100)}`, method: 'GET', path: `${path}?${query}`, headers: { authorization: auth.admin }, allowOk: () => (counts.queriesOk++, undefined) };
    });
    await runProperty(arb);
  });

  it('covered every operation of the OpenAPI document that takes input, and the server still serves', async () => {
    const openapi = JSON.parse(fs.readFileSync(OPENAPI_PATH, 'utf8'));
    const noInput = new Set(['GET /healthz', 'GET /readyz', 'GET /openapi.json']);
    const missing: string[] = [];
    for (const [p, item] of Object.entries<Record<string, unknown>>(openapi.paths)) {
      for (const m of ['get', 'post', 'put', 'patch', 'delete']) {
        const op = `${m.toUpperCase()} ${p}`;
        if (item[m] && !noInput.has(op) && !counts.byOp.has(op)) missing.push(op);
      }
    }
    expect(missing, 'operations no bad input was sent to').to.deep.equal([]);
    expect((await request(`${t.url}/healthz`)).status).to.equal(200);
    const after = await dumpDatabase(t.platform.db.knex, t.platform.db.dialect);
    expect(diffDumps(baseline, after)).to.deep.equal([]);
    // Still fully working: a valid message goes through (this is the only write of the suite).
    const ok = await request(`${t.url}/outbound_messages`, {
      method: 'POST',
      headers: { authorization: auth.alpha, 'content-type': JSONAPI },
      body: JSON.stringify({ data: { type: 'outbound_messages', attributes: { destination: '15551234567', source: ALLOWED_SOURCE, content: 'still up' } } }),
    });
    expect(ok.status).to.equal(201);
  });
});
