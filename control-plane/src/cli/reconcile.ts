import { ApiClient } from './api-client';
import { CliError, CliIo, EXIT_OK, EXIT_USAGE, reportError } from './cli-context';
import { applyReport } from './format';
import { findByName, listAll } from './resolve';
import { DidSetInput, INPUT_FORMAT, PasswordRotationInput, PruneInput, RECONCILE_KINDS, RESOURCE_ENV, ReconcileInput, TrunkInput } from './reconcile-input';

/**
 * What the constructs' provisioners run: `trunkctl reconcile apply|destroy` with the resource's
 * `input` in TRUNKCTL_RESOURCE. Each step is idempotent, so a retried `cdktf deploy` is safe.
 */
export function parseInput(text: string | undefined, source: string): ReconcileInput {
  if (text === undefined || text.trim() === '') {
    throw new CliError(`${source} is empty; \`trunkctl reconcile\` is run by the CDKTF constructs' provisioners with the resource input in it`, EXIT_USAGE);
  }
  let value: any;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${source} is not valid JSON: ${(err as Error).message}`, EXIT_USAGE);
  }
  const bad = (what: string) => new CliError(`${source}: ${what}`, EXIT_USAGE);
  if (typeof value !== 'object' || value === null) throw bad('must be a JSON object');
  if (value.format !== INPUT_FORMAT) throw bad(`format ${JSON.stringify(value.format)} is not supported by this trunkctl (it reads format ${INPUT_FORMAT}); synthesize the stack with the constructs of this checkout`);
  if (!RECONCILE_KINDS.includes(value.kind)) throw bad(`kind must be one of ${RECONCILE_KINDS.join(', ')}, got ${JSON.stringify(value.kind)}`);
  for (const key of ['api', 'token_env', 'managed_by', 'spec_hash']) if (typeof value[key] !== 'string' || value[key] === '') throw bad(`"${key}" must be a non-empty string`);
  const need = (key: string, test: (v: unknown) => boolean, what: string) => {
    if (!test(value[key])) throw bad(`"${key}" must be ${what}`);
  };
  const str = (v: unknown) => typeof v === 'string' && v !== '';
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  switch (value.kind as ReconcileInput['kind']) {
    case 'sms_trunk':
      need('ref', str, 'a non-empty string');
      need('spec', (v) => typeof v === 'object' && v !== null && typeof (v as any).name === 'string', 'an object with a name');
      break;
    case 'did_set':
      need('name', str, 'a non-empty string');
      need('spec', (v) => typeof v === 'object' && v !== null && strings((v as any).dids), 'an object with a "dids" array');
      break;
    case 'password_rotation':
      need('ref', str, 'a non-empty string');
      need('grace_seconds', (v) => Number.isInteger(v), 'a whole number of seconds');
      break;
    case 'prune':
      need('trunks', strings, 'an array of external references');
      need('did_sets', strings, 'an array of set names');
      break;
  }
  return value as ReconcileInput;
}

/** One `trunkctl reconcile apply|destroy`: the input from an environment variable, a line per outcome. */
export async function reconcileStep(step: 'apply' | 'destroy', io: CliIo, fromEnv = RESOURCE_ENV): Promise<void> {
  const input = parseInput(io.env[fromEnv], `$${fromEnv}`);
  const client = clientFor(input, io.env);
  const lines = step === 'apply' ? await applyInput(client, input) : await destroyInput(client, input);
  for (const line of lines) io.stdout.write(`${line}\n`);
}

/**
 * What control-plane/bin/trunkctl.js runs for exactly `trunkctl reconcile apply|destroy`, the
 * provisioners' command: the same step and error reporting as through the command line parser,
 * without loading commander and the other commands (a stack's deploy starts one per resource).
 */
export async function runReconcileStep(step: 'apply' | 'destroy', io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  try {
    await reconcileStep(step, io);
    return EXIT_OK;
  } catch (err) {
    return reportError(err, io);
  }
}

/** The admin token comes from the variable the stack names, in the environment of `terraform apply`. */
export function clientFor(input: ReconcileInput, env: Record<string, string | undefined>): ApiClient {
  const token = env[input.token_env]?.trim();
  if (!token) {
    throw new CliError(
      `${input.token_env} is not set: the stack reads the admin token from it at apply time; export ${input.token_env}=<admin token> before cdktf deploy (the stack names the variable, never the token)`,
      EXIT_USAGE,
    );
  }
  if (!/^https?:\/\/[^/]/i.test(input.api)) throw new CliError(`the stack's control plane URL must be http(s), got ${JSON.stringify(input.api)}`, EXIT_USAGE);
  return new ApiClient(input.api, token);
}

const enc = encodeURIComponent;

export async function applyInput(client: ApiClient, input: ReconcileInput): Promise<string[]> {
  switch (input.kind) {
    case 'sms_trunk':
      return [await applyTrunk(client, input)];
    case 'did_set':
      return [await applySet(client, input)];
    case 'password_rotation':
      return [await rotate(client, input)];
    case 'prune':
      return prune(client, input);
  }
}

export async function destroyInput(client: ApiClient, input: ReconcileInput): Promise<string[]> {
  switch (input.kind) {
    case 'sms_trunk': {
      const doc = await client.request('DELETE', `/v1/sms_trunks/by-external-reference/${enc(input.ref)}`, { query: { if_managed_spec_hash: input.spec_hash } });
      return [`trunk "${input.spec.name}" (ref ${input.ref}): ${destroyOutcome(doc.meta, 'trunk')}`];
    }
    case 'did_set': {
      const doc = await client.request('DELETE', `/v1/did_sets/by-name/${enc(input.name)}`, { query: { if_managed_spec_hash: input.spec_hash } });
      return [`DID set "${input.name}": ${destroyOutcome(doc.meta, 'set')}`];
    }
    case 'password_rotation':
      return [`password rotation of ${input.ref}: nothing to undo`];
    case 'prune':
      return ['prune step: nothing to undo'];
  }
}

function destroyOutcome(meta: { deleted: boolean; reason?: string }, what: string): string {
  if (meta.deleted) return 'deleted';
  if (meta.reason === 'not_found') return 'already gone';
  return `kept: the live ${what} carries another spec than this resource applied (a newer deploy owns it)`;
}

/** The JSON:API document for PUT …/by-external-reference/{ref}; set names resolved to ids. */
export async function trunkDocumentFor(client: ApiClient, input: TrunkInput): Promise<unknown> {
  const s = input.spec;
  const setIds: string[] = [];
  for (const name of s.outgoing_did_sets) {
    const set = await findByName(client, 'did_sets', name);
    if (!set) {
      throw new CliError(`trunk "${s.name}": DID set "${name}" does not exist on ${client.baseUrl}; declare it as a SourceDidSet in the stack or create it with \`trunkctl sets apply\``);
    }
    setIds.push(set.id);
  }
  return {
    data: {
      type: 'sms_trunks',
      attributes: {
        name: s.name,
        callback_url: s.callback_url,
        allowed_ips: s.allowed_ips,
        allow_any_did_as_source: s.allow_any_did_as_source,
        dlr_events: s.dlr_events,
        blocked: s.blocked,
        rate_limit_per_second: s.rate_limit_per_second,
        external_reference_id: input.ref,
        managed_by: input.managed_by,
        managed_spec_hash: input.spec_hash,
      },
      relationships: {
        outgoing_dids: { data: s.outgoing_dids.map((id) => ({ type: 'dids', id })) },
        outgoing_did_sets: { data: setIds.map((id) => ({ type: 'did_sets', id })) },
      },
    },
  };
}

async function applyTrunk(client: ApiClient, input: TrunkInput): Promise<string> {
  const doc = await client.request('PUT', `/v1/sms_trunks/by-external-reference/${enc(input.ref)}`, { json: await trunkDocumentFor(client, input) });
  return `${applyReport('trunk', input.spec.name, doc)} [ref ${input.ref}]`;
}

async function applySet(client: ApiClient, input: DidSetInput): Promise<string> {
  const doc = await client.request('PUT', `/v1/did_sets/by-name/${enc(input.name)}`, {
    json: {
      data: {
        type: 'did_sets',
        attributes: { name: input.name, managed_by: input.managed_by, managed_spec_hash: input.spec_hash },
        relationships: { dids: { data: input.spec.dids.map((id) => ({ type: 'dids', id })) } },
      },
    },
  });
  return applyReport('DID set', input.name, doc);
}

export async function findTrunkByRef(client: ApiClient, ref: string): Promise<any | undefined> {
  const page = await client.get<{ data: any[] }>('/v1/sms_trunks', { 'filter[external_reference_id]': ref });
  return page.data[0];
}

async function rotate(client: ApiClient, input: PasswordRotationInput): Promise<string> {
  const trunk = await findTrunkByRef(client, input.ref);
  if (!trunk) throw new CliError(`no trunk with external_reference_id ${JSON.stringify(input.ref)} to rotate the password of`);
  const doc = await client.request('POST', `/v1/sms_trunks/${trunk.id}/credentials/regenerate`, {
    json: { data: { type: 'credential_regenerations', attributes: { grace_period_seconds: input.grace_seconds } } },
  });
  const until = doc.data.attributes.previous_password_valid_until;
  // The password itself is never printed: Terraform logs provisioner output.
  return `trunk "${trunk.attributes.name}": password regenerated${until ? `; the previous one stays valid until ${until}` : ''} (trunkctl creds show --ref ${input.ref})`;
}

/** Managed by this stack, gone from its declaration: deleted, each only while it still carries the spec read here. */
export async function leftovers(client: ApiClient, input: Pick<PruneInput, 'managed_by' | 'trunks' | 'did_sets'>): Promise<{ trunks: any[]; sets: any[] }> {
  const trunks = (await listAll(client, '/v1/sms_trunks')).data.filter(
    (t) => t.attributes.managed_by === input.managed_by && !input.trunks.includes(t.attributes.external_reference_id),
  );
  const sets = (await listAll(client, '/v1/did_sets')).data.filter((s) => s.attributes.managed_by === input.managed_by && !input.did_sets.includes(s.attributes.name));
  return { trunks, sets };
}

export async function deleteLeftovers(client: ApiClient, found: { trunks: any[]; sets: any[] }): Promise<string[]> {
  const lines: string[] = [];
  // Trunks first: a set still used by a trunk cannot be deleted.
  for (const t of found.trunks) {
    const a = t.attributes;
    const label = `trunk "${a.name}" (ref ${a.external_reference_id ?? '-'})`;
    if (a.external_reference_id === null || a.managed_spec_hash === null) {
      lines.push(`${label}: not pruned: it has no external reference or spec hash; delete it with trunkctl trunks delete --force`);
      continue;
    }
    const doc = await client.request('DELETE', `/v1/sms_trunks/by-external-reference/${enc(a.external_reference_id)}`, { query: { if_managed_spec_hash: a.managed_spec_hash } });
    lines.push(`${label}: ${doc.meta.deleted ? 'deleted (no longer declared by the stack)' : `not pruned (${doc.meta.reason})`}`);
  }
  for (const s of found.sets) {
    const a = s.attributes;
    if (a.managed_spec_hash === null) {
      lines.push(`DID set "${a.name}": not pruned: it has no spec hash; delete it with trunkctl sets delete --force`);
      continue;
    }
    const doc = await client.request('DELETE', `/v1/did_sets/by-name/${enc(a.name)}`, { query: { if_managed_spec_hash: a.managed_spec_hash } });
    lines.push(`DID set "${a.name}": ${doc.meta.deleted ? 'deleted (no longer declared by the stack)' : `not pruned (${doc.meta.reason})`}`);
  }
  return lines;
}

async function prune(client: ApiClient, input: PruneInput): Promise<string[]> {
  const lines = await deleteLeftovers(client, await leftovers(client, input));
  return lines.length ? lines : [`prune: nothing managed by ${input.managed_by} is left over`];
}
