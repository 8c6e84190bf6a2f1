import crypto from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Knex } from 'knex';
import { isUniqueViolation, nowIso } from '../db/database';
import { conflict, ErrorCollector, notFound, preconditionFailed } from '../errors';
import { IncomingResource, readToMany, rejectUnknownAttributes, rejectUnknownRelationships } from '../http/jsonapi';
import type { Actor, AuditLog } from '../audit/audit-log';
import type { ChangeFeed } from '../shared/changes';
import { checkManagedBy, checkName, checkSpecHash, MAX_SOURCE_DIDS } from '../trunks/trunk-validation';

export interface DidSetSpec {
  name: string;
  dids: string[];
  managed_by: string | null;
  managed_spec_hash: string | null;
}

export interface DidSet extends DidSetSpec {
  id: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export function parseDidSetSpec(doc: IncomingResource, base?: DidSetSpec): DidSetSpec {
  const errors = new ErrorCollector();
  rejectUnknownAttributes(doc.attributes, ['name', 'managed_by', 'managed_spec_hash'], ['did_count', 'version', 'created_at', 'updated_at'], errors);
  rejectUnknownRelationships(doc.relationships, ['dids'], errors);
  const name = doc.attributes.name === undefined && base ? base.name : checkName(doc.attributes.name, '/data/attributes/name', errors);
  const dids = readToMany(doc.relationships.dids, 'dids', 'dids', errors);
  if (dids && dids.length > MAX_SOURCE_DIDS) errors.add('SET_TOO_LARGE', `A set holds at most ${MAX_SOURCE_DIDS} DIDs`, '/data/relationships/dids');
  const a = doc.attributes;
  const managedBy = a.managed_by === undefined ? (base?.managed_by ?? null) : checkManagedBy(a.managed_by, '/data/attributes/managed_by', errors);
  const hash = a.managed_spec_hash === undefined ? (base?.managed_spec_hash ?? null) : checkSpecHash(a.managed_spec_hash, '/data/attributes/managed_spec_hash', errors);
  errors.throwIfAny();
  return { name: name!, dids: dids ? [...new Set(dids)] : (base?.dids ?? []), managed_by: managedBy!, managed_spec_hash: hash! };
}

export class DidSetService {
  constructor(
    private readonly knex: Knex,
    private readonly audit: AuditLog,
    private readonly changes: ChangeFeed,
  ) {}

  private async hydrate(trx: Knex | Knex.Transaction, rows: any[]): Promise<DidSet[]> {
    if (!rows.length) return [];
    const members = await trx('did_set_members').whereIn('set_id', rows.map((r) => r.id)).orderBy(['set_id', 'position']);
    const byId = new Map<string, string[]>();
    for (const m of members) byId.set(m.set_id, [...(byId.get(m.set_id) ?? []), m.did_number]);
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      dids: byId.get(r.id) ?? [],
      managed_by: r.managed_by ?? null,
      managed_spec_hash: r.managed_spec_hash ?? null,
      version: Number(r.version),
      created_at: r.created_at,
      updated_at: r.updated_at,
    }));
  }

  async get(id: string, trx: Knex | Knex.Transaction = this.knex): Promise<DidSet> {
    const row = await trx('did_sets').where({ id }).first();
    if (!row) throw notFound('DID_SET_NOT_FOUND', `Source-DID set ${id} does not exist`);
    return (await this.hydrate(trx, [row]))[0]!;
  }

  async findByName(name: string, trx: Knex | Knex.Transaction = this.knex): Promise<DidSet | undefined> {
    const row = await trx('did_sets').where({ name }).first();
    return row ? (await this.hydrate(trx, [row]))[0] : undefined;
  }

  async list(f: { name?: string }, page: { number: number; size: number }): Promise<{ items: DidSet[]; total: number }> {
    const q = () => (f.name !== undefined ? this.knex('did_sets').where({ name: f.name }) : this.knex('did_sets'));
    const [{ n }] = await q().count({ n: '*' });
    const rows = await q().orderBy('name').limit(page.size).offset((page.number - 1) * page.size);
    return { items: await this.hydrate(this.knex, rows), total: Number(n) };
  }

  private async checkMembers(trx: Knex.Transaction, spec: DidSetSpec, selfId?: string): Promise<void> {
    const other = await trx('did_sets').where({ name: spec.name }).first('id');
    if (other && other.id !== selfId) throw conflict('DID_SET_NAME_TAKEN', `A source-DID set named "${spec.name}" already exists`, '/data/attributes/name');
    const errors = new ErrorCollector();
    const ok = new Set<string>();
    const exists = new Set<string>();
    for (let i = 0; i < spec.dids.length; i += 400) {
      const part = spec.dids.slice(i, i + 400);
      (await trx('did_capabilities').whereIn('did_number', part).where('capability', 'sms_out').select('did_number')).forEach((r: any) => ok.add(r.did_number));
      (await trx('dids').whereIn('number', part).select('number')).forEach((r: any) => exists.add(r.number));
    }
    spec.dids.forEach((d, i) => {
      if (ok.has(d)) return;
      errors.add(
        exists.has(d) ? 'DID_NOT_SMS_OUT' : 'DID_NOT_FOUND',
        exists.has(d) ? `DID ${d} does not have the sms_out capability` : `DID ${d} does not exist; create or import it first`,
        `/data/relationships/dids/data/${i}`,
      );
    });
    errors.throwIfAny('unprocessable');
  }

  private async writeMembers(trx: Knex.Transaction, id: string, dids: string[]): Promise<void> {
    await trx('did_set_members').where({ set_id: id }).delete();
    for (let i = 0; i < dids.length; i += 300) {
      await trx('did_set_members').insert(dids.slice(i, i + 300).map((d, j) => ({ set_id: id, did_number: d, position: i + j })));
    }
  }

  private async insert(trx: Knex.Transaction, spec: DidSetSpec, actor: Actor): Promise<DidSet> {
    await this.checkMembers(trx, spec);
    const id = crypto.randomUUID();
    const now = nowIso();
    await trx('did_sets').insert({ id, name: spec.name, managed_by: spec.managed_by, managed_spec_hash: spec.managed_spec_hash, version: 1, created_at: now, updated_at: now });
    await this.writeMembers(trx, id, spec.dids);
    const set = await this.get(id, trx);
    await this.audit.record(trx, actor, { action: 'did_set.create', resourceType: 'did_sets', resourceId: id, after: specOfSet(set) });
    return set;
  }

  private async change(trx: Knex.Transaction, before: DidSet, spec: DidSetSpec, actor: Actor): Promise<DidSet> {
    await this.checkMembers(trx, spec, before.id);
    const n = await trx('did_sets')
      .where({ id: before.id, version: before.version })
      .update({ name: spec.name, managed_by: spec.managed_by, managed_spec_hash: spec.managed_spec_hash, version: before.version + 1, updated_at: nowIso() });
    if (n !== 1) throw preconditionFailed('VERSION_MISMATCH', `Set ${before.id} changed concurrently; retry`);
    await this.writeMembers(trx, before.id, spec.dids);
    const after = await this.get(before.id, trx);
    await this.audit.record(trx, actor, {
      action: 'did_set.update',
      resourceType: 'did_sets',
      resourceId: before.id,
      before: specOfSet(before),
      after: specOfSet(after),
    });
    return after;
  }

  private async translate<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('DID_SET_NAME_TAKEN', 'A source-DID set with this name already exists', '/data/attributes/name');
      throw err;
    }
  }

  async create(spec: DidSetSpec, actor: Actor): Promise<DidSet> {
    const set = await this.translate(() => this.knex.transaction((trx) => this.insert(trx, spec, actor)));
    this.changes.changed('did_sets', set.id);
    return set;
  }

  async update(id: string, doc: IncomingResource, actor: Actor, ifMatch?: number, force = false): Promise<DidSet> {
    const set = await this.translate(() =>
      this.knex.transaction(async (trx) => {
        const before = await this.get(id, trx);
        if (ifMatch !== undefined && ifMatch !== before.version) throw preconditionFailed('VERSION_MISMATCH', `If-Match is "${ifMatch}" but set ${id} is at version "${before.version}"`);
        const spec = parseDidSetSpec(doc, specOfSet(before));
        if (isDeepStrictEqual(spec, specOfSet(before))) return before;
        assertSetNotManaged(before, force, 'edit');
        return this.change(trx, before, spec, actor);
      }),
    );
    this.changes.changed('did_sets', id);
    return set;
  }

  async upsertByName(spec: DidSetSpec, actor: Actor, force = false): Promise<{ set: DidSet; created: boolean; changed: boolean }> {
    const result = await this.translate(() =>
      this.knex.transaction(async (trx) => {
        const existing = await this.findByName(spec.name, trx);
        if (!existing) return { set: await this.insert(trx, spec, actor), created: true, changed: true };
        if (isDeepStrictEqual(spec, specOfSet(existing))) return { set: existing, created: false, changed: false };
        if (existing.managed_by !== spec.managed_by) assertSetNotManaged(existing, force, "apply another owner's spec to");
        return { set: await this.change(trx, existing, spec, actor), created: false, changed: true };
      }),
    );
    if (result.changed) this.changes.changed('did_sets', result.set.id);
    return result;
  }

  async delete(id: string, actor: Actor, ifMatch?: number, force = false): Promise<void> {
    await this.knex.transaction(async (trx) => {
      const before = await this.get(id, trx);
      if (ifMatch !== undefined && ifMatch !== before.version) throw preconditionFailed('VERSION_MISMATCH', `If-Match is "${ifMatch}" but set ${id} is at version "${before.version}"`);
      assertSetNotManaged(before, force, 'delete');
      await this.deleteRow(trx, before, actor);
    });
    this.changes.changed('did_sets', id);
  }

  /** Reconciler destroy step: deletes the named set only while it still carries this spec hash. */
  async deleteIfSpec(name: string, specHash: string, actor: Actor): Promise<{ deleted: boolean; reason?: 'not_found' | 'spec_changed' }> {
    const result = await this.knex.transaction(async (trx) => {
      const set = await this.findByName(name, trx);
      if (!set) return { deleted: false, reason: 'not_found' as const };
      if (set.managed_spec_hash !== specHash) return { deleted: false, reason: 'spec_changed' as const };
      await this.deleteRow(trx, set, actor);
      return { deleted: true };
    });
    if (result.deleted) this.changes.changed('did_sets');
    return result;
  }

  private async deleteRow(trx: Knex.Transaction, before: DidSet, actor: Actor): Promise<void> {
    const id = before.id;
    const users = await trx('trunk_outgoing_did_sets').join('sms_trunks', 'sms_trunks.id', 'trunk_outgoing_did_sets.trunk_id').where('set_id', id).select('sms_trunks.id', 'sms_trunks.name');
    if (users.length) {
      throw conflict(
        'DID_SET_IN_USE',
        `Source-DID set "${before.name}" is used by trunk${users.length > 1 ? 's' : ''} ${users.map((u: any) => `"${u.name}"`).join(', ')}; remove it from them first`,
        undefined,
        { used_by: users.map((u: any) => ({ type: 'sms_trunks', id: u.id, name: u.name })) },
      );
    }
    await trx('did_sets').where({ id }).delete();
    await this.audit.record(trx, actor, { action: 'did_set.delete', resourceType: 'did_sets', resourceId: id, before: specOfSet(before) });
  }
}

export const specOfSet = (s: DidSet): DidSetSpec => ({ name: s.name, dids: s.dids, managed_by: s.managed_by, managed_spec_hash: s.managed_spec_hash });

function assertSetNotManaged(s: DidSet, force: boolean, verb: string): void {
  if (s.managed_by === null || force) return;
  throw conflict(
    'DID_SET_MANAGED',
    `Source-DID set "${s.name}" is managed by ${s.managed_by}: change it in that stack and deploy, or repeat with ?force=true to ${verb} it here anyway (trunkctl drift will report the difference)`,
    undefined,
    { managed_by: s.managed_by },
  );
}
