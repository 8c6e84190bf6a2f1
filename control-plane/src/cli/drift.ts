import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ApiClient } from './api-client';
import { CliError } from './cli-context';
import { findByName, listAll } from './resolve';
import { applyInput, deleteLeftovers, findTrunkByRef, leftovers } from './reconcile';
import { DidSetInput, RECONCILE_KINDS, ReconcileInput, TrunkInput } from './reconcile-input';

/** One resource a synthesized stack declares, as its provisioners would apply it. */
export interface Declared {
  stack: string;
  /** Terraform address, e.g. terraform_data.Marketing_3B454061. */
  address: string;
  input: ReconcileInput;
}

export interface SynthStack {
  name: string;
  file: string;
  declared: Declared[];
}

/**
 * Reads `cdktf synth` output: a cdktf.out directory (manifest.json), one stack directory, or a
 * cdk.tf.json file. Only the resources our constructs synthesize are returned.
 */
export function readSynth(target: string, only?: string): SynthStack[] {
  let files: Array<{ name: string; file: string }>;
  const manifest = path.join(target, 'manifest.json');
  if (fs.existsSync(manifest)) {
    const m = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { stacks: Record<string, { name: string; synthesizedStackPath: string }> };
    files = Object.values(m.stacks).map((s) => ({ name: s.name, file: path.join(target, s.synthesizedStackPath) }));
  } else if (fs.existsSync(path.join(target, 'cdk.tf.json'))) {
    files = [{ name: path.basename(path.resolve(target)), file: path.join(target, 'cdk.tf.json') }];
  } else if (target.endsWith('.json') && fs.existsSync(target)) {
    files = [{ name: path.basename(path.dirname(path.resolve(target))), file: target }];
  } else {
    throw new CliError(`${target} holds no cdktf synth output (manifest.json or cdk.tf.json); run \`cdktf synth\` first and pass its output directory (cdktf.out)`);
  }
  if (only !== undefined) {
    const names = files.map((f) => f.name);
    files = files.filter((f) => f.name === only);
    if (files.length === 0) throw new CliError(`no stack named ${JSON.stringify(only)} in ${target}; it has ${names.join(', ') || 'none'}`);
  }
  return files.map(({ name, file }) => {
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { resource?: Record<string, Record<string, any>> };
    const declared: Declared[] = [];
    for (const [type, resources] of Object.entries(doc.resource ?? {})) {
      for (const [id, body] of Object.entries(resources)) {
        let input: any;
        if (type === 'terraform_data') input = body.input;
        else if (type === 'null_resource' && typeof body.triggers?.resource === 'string' && !body.triggers.resource.includes('${')) input = JSON.parse(body.triggers.resource);
        if (input && RECONCILE_KINDS.includes(input.kind)) declared.push({ stack: name, address: `${type}.${id}`, input });
      }
    }
    return { name, file, declared };
  });
}

export type DriftStatus = 'in_sync' | 'changed_outside' | 'not_deployed' | 'missing' | 'leftover';

export interface Finding {
  status: DriftStatus;
  kind: 'trunk' | 'did_set';
  label: string;
  /** `field: declared …, live …` lines. */
  differences: string[];
  input?: ReconcileInput;
}

const isUnknown = (v: unknown) => JSON.stringify(v ?? null).includes('${');
const list = (v: unknown[]) => `[${v.join(', ')}]`;
const value = (v: unknown) => (Array.isArray(v) ? list(v) : JSON.stringify(v));

function compare(fields: Array<[string, unknown, unknown, 'list' | 'value']>): string[] {
  const out: string[] = [];
  for (const [name, declared, live, how] of fields) {
    if (isUnknown(declared)) continue;
    if (how === 'list') {
      const d = declared as string[];
      const l = live as string[];
      const missing = d.filter((x) => !l.includes(x));
      const extra = l.filter((x) => !d.includes(x));
      if (missing.length || extra.length) {
        const parts = [extra.length && `live adds ${list(extra)}`, missing.length && `live lacks ${list(missing)}`].filter(Boolean).join('; ');
        out.push(`${name}: declared ${list(d)}, live ${list(l)} (${parts})`);
      }
    } else if (!isDeepStrictEqual(declared, live)) {
      out.push(`${name}: declared ${value(declared)}, live ${value(live)}`);
    }
  }
  return out;
}

function status(input: ReconcileInput, liveHash: string | null, differences: string[]): DriftStatus {
  if (isUnknown(input.spec_hash)) return differences.length ? 'changed_outside' : 'in_sync';
  if (liveHash !== input.spec_hash) return 'not_deployed';
  return differences.length ? 'changed_outside' : 'in_sync';
}

async function checkTrunk(client: ApiClient, input: TrunkInput, setNames: Map<string, string>): Promise<Finding> {
  const label = `trunk "${input.spec.name}" [ref ${input.ref}]`;
  const live = await findTrunkByRef(client, input.ref);
  if (!live) return { status: 'missing', kind: 'trunk', label, differences: [], input };
  const a = live.attributes;
  const s = input.spec;
  const liveSets = (live.relationships?.outgoing_did_sets?.data ?? []).map((r: any) => setNames.get(r.id) ?? r.id);
  const liveDids = (live.relationships?.outgoing_dids?.data ?? []).map((r: any) => r.id);
  const differences = compare([
    ['name', s.name, a.name, 'value'],
    ['callback_url', s.callback_url, a.callback_url, 'value'],
    ['allowed_ips', s.allowed_ips, a.allowed_ips, 'list'],
    ['allow_any_did_as_source', s.allow_any_did_as_source, a.allow_any_did_as_source, 'value'],
    ['outgoing_dids', s.outgoing_dids, liveDids, 'list'],
    ['outgoing_did_sets', s.outgoing_did_sets, liveSets, 'list'],
    ['dlr_events', s.dlr_events, a.dlr_events, 'value'],
    ['blocked', s.blocked, a.blocked, 'value'],
    ['rate_limit_per_second', s.rate_limit_per_second, a.rate_limit_per_second, 'value'],
    ['managed_by', input.managed_by, a.managed_by, 'value'],
  ]);
  return { status: status(input, a.managed_spec_hash, differences), kind: 'trunk', label, differences, input };
}

async function checkSet(client: ApiClient, input: DidSetInput): Promise<Finding> {
  const label = `DID set "${input.name}"`;
  const found = await findByName(client, 'did_sets', input.name);
  if (!found) return { status: 'missing', kind: 'did_set', label, differences: [], input };
  const live = await client.get(`/v1/did_sets/${found.id}`);
  const dids = live.data.relationships.dids.data.map((d: any) => d.id);
  const differences = compare([
    ['dids', input.spec.dids, dids, 'list'],
    ['managed_by', input.managed_by, live.data.attributes.managed_by, 'value'],
  ]);
  return { status: status(input, live.data.attributes.managed_spec_hash, differences), kind: 'did_set', label, differences, input };
}

/** Compares what a stack declares with the live control plane. */
export async function checkDrift(client: ApiClient, stack: SynthStack): Promise<Finding[]> {
  const findings: Finding[] = [];
  const allSets = await listAll(client, '/v1/did_sets');
  const setNames = new Map<string, string>(allSets.data.map((s: any) => [s.id, s.attributes.name]));
  const inputs = stack.declared.map((d) => d.input);
  for (const input of inputs) if (input.kind === 'did_set') findings.push(await checkSet(client, input));
  for (const input of inputs) if (input.kind === 'sms_trunk') findings.push(await checkTrunk(client, input, setNames));
  const managedBy = inputs[0]?.managed_by;
  if (managedBy !== undefined) {
    const left = await leftovers(client, {
      managed_by: managedBy,
      trunks: inputs.flatMap((i) => (i.kind === 'sms_trunk' ? [i.ref] : [])),
      did_sets: inputs.flatMap((i) => (i.kind === 'did_set' ? [i.name] : [])),
    });
    for (const t of left.trunks) findings.push({ status: 'leftover', kind: 'trunk', label: `trunk "${t.attributes.name}" [ref ${t.attributes.external_reference_id ?? '-'}]`, differences: [] });
    for (const s of left.sets) findings.push({ status: 'leftover', kind: 'did_set', label: `DID set "${s.attributes.name}"`, differences: [] });
  }
  return findings;
}

export const STATUS_TEXT: Record<DriftStatus, { mark: string; text: string }> = {
  in_sync: { mark: ' ', text: 'in sync' },
  changed_outside: { mark: '~', text: 'changed outside the stack (a forced edit); `trunkctl drift --fix` restores the declared spec' },
  not_deployed: { mark: '>', text: 'the stack declares changes not deployed yet; `cdktf deploy` applies them' },
  missing: { mark: '+', text: 'declared but not on the control plane: new (`cdktf deploy` creates it) or deleted by hand (`trunkctl drift --fix` recreates it)' },
  leftover: { mark: '-', text: 'managed by this stack but no longer declared; `trunkctl drift --fix` deletes it' },
};

/** --fix: re-applies the declared spec where it was changed or deleted by hand, and deletes leftovers. */
export async function fixDrift(client: ApiClient, findings: Finding[], managedBy: string, declared: ReconcileInput[]): Promise<string[]> {
  const lines: string[] = [];
  for (const f of findings) {
    if ((f.status === 'changed_outside' || f.status === 'missing') && f.input) lines.push(...(await applyInput(client, f.input)));
  }
  if (findings.some((f) => f.status === 'leftover')) {
    const left = await leftovers(client, {
      managed_by: managedBy,
      trunks: declared.flatMap((i) => (i.kind === 'sms_trunk' ? [i.ref] : [])),
      did_sets: declared.flatMap((i) => (i.kind === 'did_set' ? [i.name] : [])),
    });
    lines.push(...(await deleteLeftovers(client, left)));
  }
  return lines;
}
