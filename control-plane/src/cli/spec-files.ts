import fs from 'node:fs';
import { CliError } from './cli-context';

export const TRUNK_SPEC_HELP = `
Spec file (JSON; one spec or an array of specs, "-" reads stdin):
  {
    "name": "acme-alerts",                 required
    "callback_url": "https://…/dlr",       null for none
    "allowed_ips": ["203.0.113.0/24"],     empty: any source address
    "allow_any_did_as_source": false,      true: any sms_out DID (then no lists)
    "outgoing_dids": ["12125550100"],      DIDs with sms_out
    "outgoing_did_sets": ["us-longcodes"], DID set NAMES (see trunkctl sets)
    "dlr_events": true,
    "blocked": false,
    "external_reference_id": "crm-42",     optional stable key
    "rate_limit_per_second": 50,           null for no limit
    "managed_by": "cdktf:prod",            owner: manual edits then need --force
    "managed_spec_hash": "…"               the owner's spec hash (for conditional deletes)
  }

Apply is an idempotent upsert of the whole spec: keys left out take their defaults. With
external_reference_id the trunk is matched by it (PUT /v1/sms_trunks/by-external-reference/{ref}),
so renaming keeps the same trunk; otherwise by name (PUT /v1/sms_trunks/by-name/{name}).
Each spec reports created, updated or unchanged. An array is applied in order and stops at the
first error; the specs before it stay applied. A trunk managed by a stack (managed_by) refuses a
spec with another owner unless --force is given.
`;

export const SET_SPEC_HELP = `
Spec file (JSON; one spec or an array of specs, "-" reads stdin):
  { "name": "us-longcodes", "dids": ["12125550100", "12125550101"] }

Apply replaces the set's DIDs with the listed ones (PUT /v1/did_sets/by-name/{name}) and
reports created, updated or unchanged.
`;

const TRUNK_ATTRIBUTES = [
  'name',
  'callback_url',
  'allowed_ips',
  'allow_any_did_as_source',
  'dlr_events',
  'blocked',
  'external_reference_id',
  'rate_limit_per_second',
  'managed_by',
  'managed_spec_hash',
];
const TRUNK_KEYS = [...TRUNK_ATTRIBUTES, 'outgoing_dids', 'outgoing_did_sets'];
const SET_KEYS = ['name', 'dids'];

export interface Spec {
  /** `file` or `file[2]`, so errors point into the right element of an array file. */
  where: string;
  name: string;
  body: Record<string, unknown>;
}

/**
 * Reads a spec file and checks its shape. Values are left for the API to validate, so the CLI and
 * the API never disagree about what is valid; unknown keys are refused here because the API
 * would never see them under their spec names.
 */
export function readSpecFile(file: string, kind: 'trunk' | 'did set'): { specs: Spec[]; isArray: boolean } {
  const parsed = readJsonFile(file);
  const isArray = Array.isArray(parsed);
  const items: unknown[] = isArray ? parsed : [parsed];
  const label = file === '-' ? 'stdin' : file;
  if (items.length === 0) throw new CliError(`${label}: the array holds no specs`);
  const allowed = kind === 'trunk' ? TRUNK_KEYS : SET_KEYS;
  const specs = items.map((item, i) => {
    const where = isArray ? `${label}[${i}]` : label;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new CliError(`${where}: a ${kind} spec must be a JSON object`);
    const body = item as Record<string, unknown>;
    const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
    if (unknown.length) throw new CliError(`${where}: unknown key ${JSON.stringify(unknown[0])}; allowed: ${allowed.join(', ')}`);
    if (typeof body.name !== 'string' || body.name.trim() === '') throw new CliError(`${where}: "name" is required and must be a non-empty string`);
    return { where, name: body.name, body };
  });
  return { specs, isArray };
}

export function readJsonFile(file: string): any {
  const text = readFile(file).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file === '-' ? 'stdin' : file}: not valid JSON: ${(err as Error).message}`);
  }
}

export function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file === '-' ? 0 : file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliError(`${file}: cannot read the file (${e.code ?? e.message})`);
  }
}

/** JSON DIDs are often written as numbers; ids in JSON:API are strings. Anything else goes through for the API to reject with a pointer. */
const didId = (d: unknown): unknown => (typeof d === 'number' && Number.isSafeInteger(d) ? String(d) : d);

const identifiers = (type: string, ids: unknown, where: string, key: string) => {
  if (!Array.isArray(ids)) throw new CliError(`${where}: "${key}" must be an array`);
  return { data: ids.map((id) => ({ type, id: didId(id) })) };
};

/** The JSON:API document for PUT …/by-name or …/by-external-reference; set names must already be ids. */
export function trunkDocument(spec: Spec, setIds: ReadonlyMap<string, string>): unknown {
  const attributes: Record<string, unknown> = {};
  for (const key of TRUNK_ATTRIBUTES) if (key in spec.body) attributes[key] = spec.body[key];
  const relationships: Record<string, unknown> = {};
  if ('outgoing_dids' in spec.body) relationships.outgoing_dids = identifiers('dids', spec.body.outgoing_dids, spec.where, 'outgoing_dids');
  if ('outgoing_did_sets' in spec.body) {
    relationships.outgoing_did_sets = { data: setNames(spec).map((name) => ({ type: 'did_sets', id: setIds.get(name)! })) };
  }
  return { data: { type: 'sms_trunks', attributes, relationships } };
}

export function setNames(spec: Spec): string[] {
  const names = spec.body.outgoing_did_sets;
  if (names === undefined) return [];
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) throw new CliError(`${spec.where}: "outgoing_did_sets" must be an array of DID set names`);
  return names;
}

export function didSetDocument(spec: Spec): unknown {
  const relationships = 'dids' in spec.body ? { dids: identifiers('dids', spec.body.dids, spec.where, 'dids') } : {};
  return { data: { type: 'did_sets', attributes: { name: spec.name }, relationships } };
}
