import crypto from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Knex } from 'knex';
import { isUniqueViolation, nowIso } from '../db/database';
import { conflict, DomainError, ErrorCollector, invalidInput, notFound, preconditionFailed } from '../errors';
import { readToMany, rejectUnknownAttributes, rejectUnknownRelationships, IncomingResource } from '../http/jsonapi';
import type { Actor, AuditLog } from '../audit/audit-log';
import type { ChangeFeed } from '../shared/changes';
import type { CredentialService } from '../credentials/credential-service';
import {
  checkAllowedIps,
  checkBoolean,
  checkCallbackUrl,
  checkExternalReference,
  checkManagedBy,
  checkName,
  checkRateLimit,
  checkSpecHash,
  MAX_SOURCE_DIDS,
  MAX_SOURCE_SETS,
} from './trunk-validation';

/** The writable, declarative part of a trunk: what `PUT …/by-name/{name}` takes in full. */
export interface TrunkSpec {
  name: string;
  callback_url: string | null;
  allowed_ips: string[];
  allow_any_did_as_source: boolean;
  dlr_events: boolean;
  blocked: boolean;
  external_reference_id: string | null;
  /** Per-trunk submission limit; null = no limit. */
  rate_limit_per_second: number | null;
  /** The stack that owns this trunk when it is declared as code; manual edits then need force. */
  managed_by: string | null;
  managed_spec_hash: string | null;
  outgoing_dids: string[];
  outgoing_did_sets: string[];
}

export interface Trunk extends TrunkSpec {
  id: string;
  username: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export const TRUNK_ATTRIBUTES = ['name', 'callback_url', 'allowed_ips', 'allow_any_did_as_source', 'dlr_events', 'blocked', 'external_reference_id', 'rate_limit_per_second', 'managed_by', 'managed_spec_hash'] as const;
export const TRUNK_READ_ONLY = ['username', 'version', 'created_at', 'updated_at'] as const;
export const TRUNK_RELATIONSHIPS = ['outgoing_dids', 'outgoing_did_sets'] as const;

export const SPEC_DEFAULTS: Omit<TrunkSpec, 'name'> = {
  callback_url: null,
  allowed_ips: [],
  allow_any_did_as_source: true,
  dlr_events: false,
  blocked: false,
  external_reference_id: null,
  rate_limit_per_second: null,
  managed_by: null,
  managed_spec_hash: null,
  outgoing_dids: [],
  outgoing_did_sets: [],
};

export type UpsertKey = { name: string } | { external_reference_id: string };

export interface UpsertResult {
  trunk: Trunk;
  created: boolean;
  changed: boolean;
}

/**
 * Reads a trunk document into a spec. With `base` (PATCH) absent members keep their values;
 * without it (create / upsert) absent members take the defaults.
 */
export function parseTrunkSpec(doc: IncomingResource, base?: TrunkSpec): TrunkSpec {
  const a = doc.attributes;
  const errors = new ErrorCollector();
  rejectUnknownAttributes(a, TRUNK_ATTRIBUTES, TRUNK_READ_ONLY, errors);
  rejectUnknownRelationships(doc.relationships, TRUNK_RELATIONSHIPS, errors);
  const from = base ?? { name: undefined as unknown as string, ...SPEC_DEFAULTS };
  const p = (k: string) => `/data/attributes/${k}`;
  const spec: Partial<TrunkSpec> = {};
  spec.name = a.name === undefined && base ? base.name : checkName(a.name, p('name'), errors);
  spec.callback_url = a.callback_url === undefined ? from.callback_url : checkCallbackUrl(a.callback_url, p('callback_url'), errors);
  spec.allowed_ips = a.allowed_ips === undefined ? from.allowed_ips : checkAllowedIps(a.allowed_ips, p('allowed_ips'), errors);
  spec.allow_any_did_as_source =
    a.allow_any_did_as_source === undefined ? from.allow_any_did_as_source : checkBoolean(a.allow_any_did_as_source, 'allow_any_did_as_source', p('allow_any_did_as_source'), errors);
  spec.dlr_events = a.dlr_events === undefined ? from.dlr_events : checkBoolean(a.dlr_events, 'dlr_events', p('dlr_events'), errors);
  spec.blocked = a.blocked === undefined ? from.blocked : checkBoolean(a.blocked, 'blocked', p('blocked'), errors);
  spec.external_reference_id =
    a.external_reference_id === undefined ? from.external_reference_id : checkExternalReference(a.external_reference_id, p('external_reference_id'), errors);
  spec.rate_limit_per_second =
    a.rate_limit_per_second === undefined ? from.rate_limit_per_second : checkRateLimit(a.rate_limit_per_second, p('rate_limit_per_second'), errors);
  spec.managed_by = a.managed_by === undefined ? from.managed_by : checkManagedBy(a.managed_by, p('managed_by'), errors);
  spec.managed_spec_hash = a.managed_spec_hash === undefined ? from.managed_spec_hash : checkSpecHash(a.managed_spec_hash, p('managed_spec_hash'), errors);
  const dids = readToMany(doc.relationships.outgoing_dids, 'outgoing_dids', 'dids', errors);
  const sets = readToMany(doc.relationships.outgoing_did_sets, 'outgoing_did_sets', 'did_sets', errors);
  // Switching an existing trunk to "any DID" without naming lists clears the old lists.
  const clearLists = base !== undefined && a.allow_any_did_as_source === true && !dids && !sets;
  spec.outgoing_dids = dids ? [...new Set(dids)] : clearLists ? [] : from.outgoing_dids;
  spec.outgoing_did_sets = sets ? [...new Set(sets)] : clearLists ? [] : from.outgoing_did_sets;
  if (spec.outgoing_dids.length > MAX_SOURCE_DIDS) errors.add('SOURCE_DIDS_TOO_MANY', `At most ${MAX_SOURCE_DIDS} outgoing DIDs; group them in source-DID sets`, '/data/relationships/outgoing_dids');
  if (spec.outgoing_did_sets.length > MAX_SOURCE_SETS) errors.add('SOURCE_SETS_TOO_MANY', `At most ${MAX_SOURCE_SETS} source-DID sets`, '/data/relationships/outgoing_did_sets');
  errors.throwIfAny();
  const s = spec as TrunkSpec;
  if (s.allow_any_did_as_source && (s.outgoing_dids.length > 0 || s.outgoing_did_sets.length > 0)) {
    // An explicit list next to "any DID" is contradictory; say which way to go instead of guessing.
    const ptr = a.allow_any_did_as_source !== undefined ? p('allow_any_did_as_source') : '/data/relationships/outgoing_dids';
    errors.add('SOURCE_SETTINGS_CONFLICT', 'allow_any_did_as_source is true, so outgoing_dids and outgoing_did_sets must be empty; set it to false to allow only the listed DIDs and sets', ptr);
  }
  if (!s.allow_any_did_as_source && s.outgoing_dids.length === 0 && s.outgoing_did_sets.length === 0) {
    errors.add('SOURCE_SETTINGS_EMPTY', 'allow_any_did_as_source is false, so name at least one DID in outgoing_dids or one set in outgoing_did_sets (or set it to true)', p('allow_any_did_as_source'));
  }
  errors.throwIfAny();
  return s;
}

export function parseIfMatch(header: string | undefined): number | undefined {
  // "*" matches any current version (RFC 9110), so it only asks that the resource exists.
  if (header === undefined || header.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(header);
  if (!m) throw preconditionFailed('IF_MATCH_INVALID', `If-Match must be the version, e.g. "3", got ${JSON.stringify(header)}`);
  return Number(m[1]);
}

interface ListFilter {
  name?: string;
  externalReferenceId?: string;
  search?: string;
  sort?: string;
}

export class TrunkService {
  constructor(
    private readonly knex: Knex,
    private readonly audit: AuditLog,
    private readonly changes: ChangeFeed,
    private readonly credentials: CredentialService,
    /** Returns why a callback URL may not be used (SSRF guard), or undefined. */
    private readonly refuseCallbackUrl: (url: string) => string | undefined = () => undefined,
  ) {}

  private checkCallbackTarget(spec: TrunkSpec): void {
    const reason = spec.callback_url === null ? undefined : this.refuseCallbackUrl(spec.callback_url);
    if (reason) throw invalidInput('CALLBACK_URL_FORBIDDEN', `callback_url is refused: ${reason}`, '/data/attributes/callback_url');
  }

  private async hydrate(trx: Knex | Knex.Transaction, rows: any[]): Promise<Trunk[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const dids = await trx('trunk_outgoing_dids').whereIn('trunk_id', ids).orderBy(['trunk_id', 'position']);
    const sets = await trx('trunk_outgoing_did_sets').whereIn('trunk_id', ids).orderBy(['trunk_id', 'position']);
    const creds = await trx('trunk_credentials').whereIn('trunk_id', ids).select('trunk_id', 'username');
    const group = (list: any[], key: string) => {
      const m = new Map<string, string[]>();
      for (const x of list) m.set(x.trunk_id, [...(m.get(x.trunk_id) ?? []), x[key]]);
      return m;
    };
    const didMap = group(dids, 'did_number');
    const setMap = group(sets, 'set_id');
    const userMap = new Map(creds.map((c: any) => [c.trunk_id, c.username]));
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      callback_url: r.callback_url ?? null,
      allowed_ips: JSON.parse(r.allowed_ips),
      allow_any_did_as_source: Boolean(r.allow_any_did_as_source),
      dlr_events: Boolean(r.dlr_events),
      blocked: Boolean(r.blocked),
      external_reference_id: r.external_reference_id ?? null,
      rate_limit_per_second: r.rate_limit_per_second === null || r.rate_limit_per_second === undefined ? null : Number(r.rate_limit_per_second),
      managed_by: r.managed_by ?? null,
      managed_spec_hash: r.managed_spec_hash ?? null,
      outgoing_dids: didMap.get(r.id) ?? [],
      outgoing_did_sets: setMap.get(r.id) ?? [],
      username: userMap.get(r.id) ?? '',
      version: Number(r.version),
      created_at: r.created_at,
      updated_at: r.updated_at,
    }));
  }

  async get(id: string, trx: Knex | Knex.Transaction = this.knex): Promise<Trunk> {
    const row = await trx('sms_trunks').where({ id }).first();
    if (!row) throw notFound('TRUNK_NOT_FOUND', `SMS trunk ${id} does not exist`);
    return (await this.hydrate(trx, [row]))[0]!;
  }

  async findBy(key: UpsertKey, trx: Knex | Knex.Transaction = this.knex): Promise<Trunk | undefined> {
    const row = await trx('sms_trunks').where(key).first();
    return row ? (await this.hydrate(trx, [row]))[0] : undefined;
  }

  private filtered(f: ListFilter): Knex.QueryBuilder {
    const q = this.knex('sms_trunks');
    if (f.name !== undefined) q.where('name', f.name);
    if (f.externalReferenceId !== undefined) q.where('external_reference_id', f.externalReferenceId);
    if (f.search) q.whereRaw('lower(name) like ?', [`%${f.search.toLowerCase().replace(/[%_\\]/g, '')}%`]);
    return q;
  }

  async list(f: ListFilter, page: { number: number; size: number }): Promise<{ items: Trunk[]; total: number }> {
    const [{ n }] = await this.filtered(f).count({ n: '*' });
    const sort = f.sort ?? 'name';
    const column = sort.replace(/^-/, '');
    const rows = await this.filtered(f)
      .orderBy(column, sort.startsWith('-') ? 'desc' : 'asc')
      .orderBy('id')
      .limit(page.size)
      .offset((page.number - 1) * page.size);
    return { items: await this.hydrate(this.knex, rows), total: Number(n) };
  }

  /** Referenced DIDs must exist with sms_out; referenced sets must exist. 422 with a pointer per bad element. */
  private async checkReferences(trx: Knex.Transaction, spec: TrunkSpec): Promise<void> {
    const errors = new ErrorCollector();
    if (spec.outgoing_dids.length) {
      const found = new Set<string>();
      for (let i = 0; i < spec.outgoing_dids.length; i += 400) {
        const part = spec.outgoing_dids.slice(i, i + 400);
        const rows = await trx('did_capabilities').whereIn('did_number', part).where('capability', 'sms_out').select('did_number');
        rows.forEach((r: any) => found.add(r.did_number));
      }
      const existing = new Set<string>();
      const missing = spec.outgoing_dids.filter((d) => !found.has(d));
      if (missing.length) (await trx('dids').whereIn('number', missing.slice(0, 400)).select('number')).forEach((r: any) => existing.add(r.number));
      spec.outgoing_dids.forEach((d, i) => {
        if (found.has(d)) return;
        errors.add(
          existing.has(d) ? 'DID_NOT_SMS_OUT' : 'DID_NOT_FOUND',
          existing.has(d) ? `DID ${d} does not have the sms_out capability` : `DID ${d} does not exist; create or import it first`,
          `/data/relationships/outgoing_dids/data/${i}`,
        );
      });
    }
    if (spec.outgoing_did_sets.length) {
      const rows = await trx('did_sets').whereIn('id', spec.outgoing_did_sets).select('id');
      const ids = new Set(rows.map((r: any) => r.id));
      spec.outgoing_did_sets.forEach((s, i) => {
        if (!ids.has(s)) errors.add('DID_SET_NOT_FOUND', `Source-DID set ${s} does not exist`, `/data/relationships/outgoing_did_sets/data/${i}`);
      });
    }
    errors.throwIfAny('unprocessable');
  }

  private async checkUnique(trx: Knex.Transaction, spec: TrunkSpec, selfId?: string): Promise<void> {
    const byName = await trx('sms_trunks').where({ name: spec.name }).first('id');
    if (byName && byName.id !== selfId) throw conflict('TRUNK_NAME_TAKEN', `A trunk named "${spec.name}" already exists`, '/data/attributes/name');
    if (spec.external_reference_id !== null) {
      const byRef = await trx('sms_trunks').where({ external_reference_id: spec.external_reference_id }).first('id');
      if (byRef && byRef.id !== selfId) {
        throw conflict('TRUNK_REFERENCE_TAKEN', `Another trunk already has external_reference_id "${spec.external_reference_id}"`, '/data/attributes/external_reference_id');
      }
    }
  }

  private async writeRelations(trx: Knex.Transaction, id: string, spec: TrunkSpec): Promise<void> {
    await trx('trunk_outgoing_dids').where({ trunk_id: id }).delete();
    await trx('trunk_outgoing_did_sets').where({ trunk_id: id }).delete();
    for (let i = 0; i < spec.outgoing_dids.length; i += 300) {
      await trx('trunk_outgoing_dids').insert(spec.outgoing_dids.slice(i, i + 300).map((d, j) => ({ trunk_id: id, did_number: d, position: i + j })));
    }
    if (spec.outgoing_did_sets.length) {
      await trx('trunk_outgoing_did_sets').insert(spec.outgoing_did_sets.map((s, i) => ({ trunk_id: id, set_id: s, position: i })));
    }
  }

  private columns(spec: TrunkSpec) {
    return {
      name: spec.name,
      callback_url: spec.callback_url,
      allowed_ips: JSON.stringify(spec.allowed_ips),
      allow_any_did_as_source: spec.allow_any_did_as_source,
      dlr_events: spec.dlr_events,
      blocked: spec.blocked,
      external_reference_id: spec.external_reference_id,
      rate_limit_per_second: spec.rate_limit_per_second,
      managed_by: spec.managed_by,
      managed_spec_hash: spec.managed_spec_hash,
    };
  }

  private async translate<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      // A concurrent writer took the name between our check and our insert.
      if (isUniqueViolation(err)) throw conflict('TRUNK_NAME_TAKEN', 'A trunk with this name or external_reference_id already exists', '/data/attributes/name');
      throw err;
    }
  }

  private async insert(trx: Knex.Transaction, spec: TrunkSpec, actor: Actor): Promise<Trunk> {
    this.checkCallbackTarget(spec);
    await this.checkUnique(trx, spec);
    await this.checkReferences(trx, spec);
    const id = crypto.randomUUID();
    const now = nowIso();
    await trx('sms_trunks').insert({ id, ...this.columns(spec), version: 1, created_at: now, updated_at: now });
    await this.writeRelations(trx, id, spec);
    await this.credentials.issue(trx, id);
    const trunk = await this.get(id, trx);
    await this.audit.record(trx, actor, { action: 'trunk.create', resourceType: 'sms_trunks', resourceId: id, after: specOf(trunk) });
    return trunk;
  }

  private async change(trx: Knex.Transaction, before: Trunk, spec: TrunkSpec, actor: Actor, forced = false): Promise<Trunk> {
    if (spec.callback_url !== before.callback_url) this.checkCallbackTarget(spec);
    await this.checkUnique(trx, spec, before.id);
    await this.checkReferences(trx, spec);
    const n = await trx('sms_trunks')
      .where({ id: before.id, version: before.version })
      .update({ ...this.columns(spec), version: before.version + 1, updated_at: nowIso() });
    if (n !== 1) throw preconditionFailed('VERSION_MISMATCH', `Trunk ${before.id} changed concurrently; fetch it again and retry`);
    await this.writeRelations(trx, before.id, spec);
    const after = await this.get(before.id, trx);
    await this.audit.record(trx, actor, {
      action: forced && before.managed_by ? 'trunk.update_forced' : 'trunk.update',
      resourceType: 'sms_trunks',
      resourceId: before.id,
      before: specOf(before),
      after: specOf(after),
    });
    return after;
  }

  async create(spec: TrunkSpec, actor: Actor): Promise<Trunk> {
    const trunk = await this.translate(() => this.knex.transaction((trx) => this.insert(trx, spec, actor)));
    this.changes.changed('sms_trunks', trunk.id);
    return trunk;
  }

  async update(id: string, doc: IncomingResource, actor: Actor, opts: { ifMatch?: number; force?: boolean } = {}): Promise<Trunk> {
    const trunk = await this.translate(() =>
      this.knex.transaction(async (trx) => {
        const before = await this.get(id, trx);
        if (opts.ifMatch !== undefined && opts.ifMatch !== before.version) {
          throw preconditionFailed('VERSION_MISMATCH', `If-Match is "${opts.ifMatch}" but trunk ${id} is at version "${before.version}"`);
        }
        const spec = parseTrunkSpec(doc, specOf(before));
        if (isDeepStrictEqual(spec, specOf(before))) return before;
        assertNotManaged(before, opts.force, 'edit');
        return this.change(trx, before, spec, actor, opts.force);
      }),
    );
    this.changes.changed('sms_trunks', id);
    return trunk;
  }

  /**
   * Idempotent apply of a full spec: creates the trunk, or updates it only when something
   * differs. Applying the same spec again changes nothing and keeps the version.
   */
  async upsert(key: UpsertKey, spec: TrunkSpec, actor: Actor, opts: { force?: boolean } = {}): Promise<UpsertResult> {
    const result = await this.translate(() =>
      this.knex.transaction(async (trx): Promise<UpsertResult> => {
        const existing = await this.findBy(key, trx);
        if (!existing) return { trunk: await this.insert(trx, spec, actor), created: true, changed: true };
        if (isDeepStrictEqual(spec, specOf(existing))) return { trunk: existing, created: false, changed: false };
        // The owning stack may re-apply; anyone else needs force to take a managed trunk over.
        if (existing.managed_by !== spec.managed_by) assertNotManaged(existing, opts.force, 'apply another owner\'s spec to');
        return { trunk: await this.change(trx, existing, spec, actor, opts.force), created: false, changed: true };
      }),
    );
    if (result.changed) this.changes.changed('sms_trunks', result.trunk.id);
    return result;
  }

  async delete(id: string, actor: Actor, opts: { ifMatch?: number; force?: boolean } = {}): Promise<void> {
    await this.knex.transaction(async (trx) => {
      const before = await this.get(id, trx);
      if (opts.ifMatch !== undefined && opts.ifMatch !== before.version) {
        throw preconditionFailed('VERSION_MISMATCH', `If-Match is "${opts.ifMatch}" but trunk ${id} is at version "${before.version}"`);
      }
      assertNotManaged(before, opts.force, 'delete');
      await trx('sms_trunks').where({ id }).delete();
      await this.audit.record(trx, actor, { action: 'trunk.delete', resourceType: 'sms_trunks', resourceId: id, before: specOf(before) });
    });
    this.changes.changed('sms_trunks', id);
  }

  /**
   * The destroy step of a declared trunk: deletes only while the live trunk still carries the spec
   * hash that this apply wrote. After a create-before-destroy replacement the new spec's hash is
   * live, so the old resource's destroy leaves the trunk alone.
   */
  async deleteIfSpec(key: UpsertKey, specHash: string, actor: Actor): Promise<{ deleted: boolean; reason?: 'not_found' | 'spec_changed' }> {
    const result = await this.knex.transaction(async (trx) => {
      const t = await this.findBy(key, trx);
      if (!t) return { deleted: false, reason: 'not_found' as const };
      if (t.managed_spec_hash !== specHash) return { deleted: false, reason: 'spec_changed' as const };
      await trx('sms_trunks').where({ id: t.id }).delete();
      await this.audit.record(trx, actor, { action: 'trunk.delete', resourceType: 'sms_trunks', resourceId: t.id, before: specOf(t) });
      return { deleted: true };
    });
    if (result.deleted) this.changes.changed('sms_trunks');
    return result;
  }
}

function assertNotManaged(t: { managed_by: string | null; name: string }, force: boolean | undefined, verb: string): void {
  if (t.managed_by === null || force) return;
  throw conflict(
    'TRUNK_MANAGED',
    `"${t.name}" is managed by ${t.managed_by}: change it in that stack and deploy. To ${verb} it here anyway, repeat with ?force=true; trunkctl drift will then report the difference and trunkctl drift --fix restores the declared spec.`,
    undefined,
    { managed_by: t.managed_by },
  );
}

export function specOf(t: Trunk): TrunkSpec {
  return {
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
    outgoing_dids: t.outgoing_dids,
    outgoing_did_sets: t.outgoing_did_sets,
  };
}

export { DomainError };
