import { Knex } from 'knex';
import { nowIso } from '../db/database';
import { conflict, DomainError, ErrorCollector, ErrorItem, notFound } from '../errors';
import type { Actor, AuditLog } from '../audit/audit-log';
import type { ChangeFeed } from '../shared/changes';
import { checkCapabilities, checkDescription, checkDidNumber, DidCapability } from './did-validation';

export interface Did {
  number: string;
  capabilities: DidCapability[];
  description: string | null;
  created_at: string;
  updated_at: string;
}

export interface DidInput {
  number: string;
  capabilities: DidCapability[];
  description: string | null;
}

export interface DidUsage {
  type: 'sms_trunks' | 'did_sets';
  id: string;
  name: string;
  did: string;
}

export interface ImportResult {
  created: number;
  updated: number;
  unchanged: number;
}

const CHUNK = 400;

function chunks<T>(items: T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Upper bound on one import: large enough for a carrier's whole inventory, small enough for one transaction. */
export const MAX_IMPORT_ROWS = 100_000;

export class DidService {
  constructor(
    private readonly knex: Knex,
    private readonly audit: AuditLog,
    private readonly changes: ChangeFeed,
  ) {}

  private filtered(f: { number?: string; capability?: string }): Knex.QueryBuilder {
    const q = this.knex('dids');
    if (f.number) q.where('number', 'like', `%${f.number}%`);
    if (f.capability) {
      q.whereExists(
        this.knex('did_capabilities').whereRaw('did_capabilities.did_number = dids.number').where('capability', f.capability),
      );
    }
    return q;
  }

  async list(f: { number?: string; capability?: string }, page: { number: number; size: number }): Promise<{ items: Did[]; total: number }> {
    const [{ n }] = await this.filtered(f).count({ n: '*' });
    const rows = await this.filtered(f).orderBy('number').limit(page.size).offset((page.number - 1) * page.size);
    return { items: await this.hydrate(this.knex, rows), total: Number(n) };
  }

  async get(number: string, trx: Knex | Knex.Transaction = this.knex): Promise<Did> {
    const row = await trx('dids').where({ number }).first();
    if (!row) throw notFound('DID_NOT_FOUND', `DID ${number} does not exist`);
    return (await this.hydrate(trx, [row]))[0]!;
  }

  private async hydrate(trx: Knex | Knex.Transaction, rows: any[]): Promise<Did[]> {
    const caps = new Map<string, DidCapability[]>();
    for (const part of chunks(rows.map((r) => r.number))) {
      const capRows = await trx('did_capabilities').whereIn('did_number', part).orderBy('capability');
      for (const c of capRows) {
        const list = caps.get(c.did_number) ?? [];
        list.push(c.capability);
        caps.set(c.did_number, list);
      }
    }
    return rows.map((r) => ({
      number: r.number,
      capabilities: caps.get(r.number) ?? [],
      description: r.description ?? null,
      created_at: r.created_at,
      updated_at: r.updated_at,
    }));
  }

  /** Validates one DID's attributes; `pointerBase` is e.g. `/data/attributes` or `/data/3/attributes`. */
  static parseInput(attrs: Record<string, unknown>, pointerBase: string, errors: ErrorCollector, idFromPath?: string): DidInput | undefined {
    const before = errors.items.length;
    const number = checkDidNumber(attrs.number ?? idFromPath, `${pointerBase}/number`, errors);
    const capabilities = attrs.capabilities === undefined ? ['sms_out' as const] : checkCapabilities(attrs.capabilities, `${pointerBase}/capabilities`, errors);
    const description = attrs.description === undefined ? null : checkDescription(attrs.description, `${pointerBase}/description`, errors);
    for (const key of Object.keys(attrs)) {
      if (!['number', 'capabilities', 'description', 'created_at', 'updated_at'].includes(key)) {
        errors.add('ATTRIBUTE_UNKNOWN', `Unknown attribute "${key}"; allowed: number, capabilities, description`, `${pointerBase}/${key}`);
      }
    }
    if (errors.items.length > before || !number || !capabilities || description === undefined) return undefined;
    return { number, capabilities, description };
  }

  async create(input: DidInput, actor: Actor): Promise<Did> {
    const did = await this.knex.transaction(async (trx) => {
      if (await trx('dids').where({ number: input.number }).first()) {
        throw conflict('DID_EXISTS', `DID ${input.number} already exists`, '/data/attributes/number');
      }
      const now = nowIso();
      await trx('dids').insert({ number: input.number, description: input.description, created_at: now, updated_at: now });
      if (input.capabilities.length) {
        await trx('did_capabilities').insert(input.capabilities.map((c) => ({ did_number: input.number, capability: c })));
      }
      const created = await this.get(input.number, trx);
      await this.audit.record(trx, actor, { action: 'did.create', resourceType: 'dids', resourceId: input.number, after: created });
      return created;
    });
    this.changes.changed('dids', did.number);
    return did;
  }

  async update(number: string, patch: Partial<Omit<DidInput, 'number'>>, actor: Actor, opts: { force?: boolean } = {}): Promise<Did> {
    const did = await this.knex.transaction(async (trx) => {
      const before = await this.get(number, trx);
      const capabilities = patch.capabilities ?? before.capabilities;
      if (before.capabilities.includes('sms_out') && !capabilities.includes('sms_out')) {
        await this.detachOrRefuse(trx, [number], actor, opts.force ?? false, 'remove sms_out from');
      }
      await trx('dids')
        .where({ number })
        .update({ description: patch.description === undefined ? before.description : patch.description, updated_at: nowIso() });
      await trx('did_capabilities').where({ did_number: number }).delete();
      if (capabilities.length) await trx('did_capabilities').insert(capabilities.map((c) => ({ did_number: number, capability: c })));
      const after = await this.get(number, trx);
      await this.audit.record(trx, actor, { action: 'did.update', resourceType: 'dids', resourceId: number, before, after });
      return after;
    });
    this.changes.changed('dids', number);
    return did;
  }

  async delete(number: string, actor: Actor, opts: { force?: boolean } = {}): Promise<void> {
    await this.knex.transaction(async (trx) => {
      const before = await this.get(number, trx);
      await this.detachOrRefuse(trx, [number], actor, opts.force ?? false, 'delete');
      await trx('dids').where({ number }).delete();
      await this.audit.record(trx, actor, { action: 'did.delete', resourceType: 'dids', resourceId: number, before });
    });
    this.changes.changed('dids', number);
  }

  async usage(trx: Knex | Knex.Transaction, numbers: string[]): Promise<DidUsage[]> {
    const out: DidUsage[] = [];
    for (const part of chunks(numbers)) {
      const sets = await trx('did_set_members')
        .join('did_sets', 'did_sets.id', 'did_set_members.set_id')
        .whereIn('did_set_members.did_number', part)
        .select('did_sets.id', 'did_sets.name', 'did_set_members.did_number as did');
      const trunks = await trx('trunk_outgoing_dids')
        .join('sms_trunks', 'sms_trunks.id', 'trunk_outgoing_dids.trunk_id')
        .whereIn('trunk_outgoing_dids.did_number', part)
        .select('sms_trunks.id', 'sms_trunks.name', 'trunk_outgoing_dids.did_number as did');
      out.push(...sets.map((s: any) => ({ type: 'did_sets' as const, ...s })), ...trunks.map((t: any) => ({ type: 'sms_trunks' as const, ...t })));
    }
    return out;
  }

  /**
   * DIDs named by trunks or sets cannot silently disappear from them: without `force` this is a
   * 409 listing every user; with `force` the DIDs are detached and each user's version moves on.
   */
  private async detachOrRefuse(trx: Knex.Transaction, numbers: string[], actor: Actor, force: boolean, verb: string): Promise<void> {
    const users = await this.usage(trx, numbers);
    if (users.length === 0) return;
    if (!force) {
      const names = users.map((u) => `${u.type === 'did_sets' ? 'set' : 'trunk'} "${u.name}"`);
      throw conflict(
        'DID_IN_USE',
        `Cannot ${verb} DID ${[...new Set(users.map((u) => u.did))].join(', ')}: used by ${[...new Set(names)].join(', ')}. Remove it there first, or repeat with ?force=true to detach it.`,
        undefined,
        { used_by: users },
      );
    }
    const now = nowIso();
    for (const u of users) {
      if (u.type === 'did_sets') {
        await trx('did_set_members').where({ set_id: u.id, did_number: u.did }).delete();
        await trx('did_sets').where({ id: u.id }).update({ version: trx.raw('version + 1'), updated_at: now });
      } else {
        await trx('trunk_outgoing_dids').where({ trunk_id: u.id, did_number: u.did }).delete();
        await trx('sms_trunks').where({ id: u.id }).update({ version: trx.raw('version + 1'), updated_at: now });
      }
      await this.audit.record(trx, actor, { action: `${u.type === 'did_sets' ? 'did_set' : 'trunk'}.detach_did`, resourceType: u.type, resourceId: u.id, after: { detached: u.did } });
    }
    this.changes.changed('did_sets');
    this.changes.changed('sms_trunks');
  }

  /**
   * All-or-nothing import. Every row is validated first and all bad rows are reported together
   * (pointer `/data/<row>/attributes/<field>`, `meta.row` 1-based). Existing numbers are updated.
   */
  async import(rows: Array<Record<string, unknown>>, actor: Actor, opts: { force?: boolean } = {}): Promise<ImportResult> {
    if (rows.length > MAX_IMPORT_ROWS) {
      throw new DomainError('payload_too_large', { code: 'IMPORT_TOO_LARGE', title: 'Too many rows', detail: `An import holds at most ${MAX_IMPORT_ROWS} DIDs; split the file` });
    }
    const errors = new ErrorCollector();
    const inputs: DidInput[] = [];
    const seen = new Map<string, number>();
    rows.forEach((attrs, i) => {
      const before = errors.items.length;
      const input = DidService.parseInput(attrs, `/data/${i}/attributes`, errors);
      for (const item of errors.items.slice(before)) item.meta = { row: i + 1 };
      if (!input) return;
      const dup = seen.get(input.number);
      if (dup !== undefined) {
        errors.items.push({ code: 'DID_DUPLICATE_ROW', title: 'Invalid input', detail: `${input.number} appears again (first on row ${dup + 1})`, pointer: `/data/${i}/attributes/number`, meta: { row: i + 1 } });
        return;
      }
      seen.set(input.number, i);
      inputs.push(input);
    });
    if (rows.length === 0) errors.add('IMPORT_EMPTY', 'The import holds no DIDs', '/data');
    errors.throwIfAny();

    const result: ImportResult = { created: 0, updated: 0, unchanged: 0 };
    await this.knex.transaction(async (trx) => {
      const existing = new Map<string, Did>();
      for (const part of chunks(inputs.map((d) => d.number))) {
        for (const d of await this.hydrate(trx, await trx('dids').whereIn('number', part))) existing.set(d.number, d);
      }
      const losingSmsOut = inputs.filter((d) => existing.get(d.number)?.capabilities.includes('sms_out') && !d.capabilities.includes('sms_out'));
      if (losingSmsOut.length) await this.detachOrRefuse(trx, losingSmsOut.map((d) => d.number), actor, opts.force ?? false, 'remove sms_out from');

      const now = nowIso();
      const toInsert: DidInput[] = [];
      const toUpdate: DidInput[] = [];
      for (const d of inputs) {
        const old = existing.get(d.number);
        if (!old) toInsert.push(d);
        else if (old.description !== d.description || old.capabilities.join(',') !== d.capabilities.join(',')) toUpdate.push(d);
        else result.unchanged++;
      }
      for (const part of chunks(toInsert, 200)) {
        await trx('dids').insert(part.map((d) => ({ number: d.number, description: d.description, created_at: now, updated_at: now })));
        const caps = part.flatMap((d) => d.capabilities.map((c) => ({ did_number: d.number, capability: c })));
        for (const cpart of chunks(caps, 300)) await trx('did_capabilities').insert(cpart);
      }
      for (const d of toUpdate) {
        await trx('dids').where({ number: d.number }).update({ description: d.description, updated_at: now });
        await trx('did_capabilities').where({ did_number: d.number }).delete();
        if (d.capabilities.length) await trx('did_capabilities').insert(d.capabilities.map((c) => ({ did_number: d.number, capability: c })));
      }
      result.created = toInsert.length;
      result.updated = toUpdate.length;
      await this.audit.record(trx, actor, {
        action: 'did.import',
        resourceType: 'dids',
        after: { ...result, created_numbers: toInsert.slice(0, 1000).map((d) => d.number), updated_numbers: toUpdate.slice(0, 1000).map((d) => d.number) },
      });
    });
    this.changes.changed('dids');
    return result;
  }
}

export type { ErrorItem };
