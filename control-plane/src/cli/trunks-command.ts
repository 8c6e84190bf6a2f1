import { Command } from 'commander';
import { ApiClient } from './api-client';
import { CliContext, CliError, EXIT_USAGE } from './cli-context';
import { applyReport, formatFields, formatTable, plural, show } from './format';
import { findByName, listAll, resolveByIdOrName, ResourceDoc } from './resolve';
import { readSpecFile, setNames, Spec, TRUNK_SPEC_HELP, trunkDocument } from './spec-files';

type Context = (cmd: Command) => CliContext;

export function trunksCommand(parent: Command, context: Context): void {
  const trunks = parent.command('trunks').description('SMS OUT trunks: list, show, apply specs (trunks as code), delete');

  trunks
    .command('list')
    .description('list all trunks')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const doc = await listAll(ctx.client(), '/v1/sms_trunks');
      if (ctx.json) return ctx.printJson(doc);
      if (doc.data.length === 0) return ctx.out('no trunks');
      const rows = doc.data.map((t: any) => [t.attributes.name, t.id, t.attributes.username, sources(t), t.attributes.blocked ? 'yes' : 'no', String(t.attributes.version)]);
      formatTable(['NAME', 'ID', 'USERNAME', 'SOURCE DIDS', 'BLOCKED', 'VERSION'], rows).forEach((l) => ctx.out(l));
    });

  trunks
    .command('get')
    .description('show one trunk')
    .argument('<trunk>', 'trunk id or name')
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const client = ctx.client();
      const doc = await resolveByIdOrName(client, 'sms_trunks', ref);
      if (ctx.json) return ctx.printJson(doc);
      const t = doc.data;
      const a = t.attributes;
      const setIds: string[] = t.relationships?.outgoing_did_sets?.data.map((s: any) => s.id) ?? [];
      const setLabels = setIds.length ? await labelSets(client, setIds) : [];
      const fields: Array<[string, string]> = [
        ['name', a.name],
        ['id', t.id],
        ['username', a.username],
        ['host', show(t.meta?.host)],
        ['callback_url', show(a.callback_url)],
        ['allowed_ips', a.allowed_ips.length ? a.allowed_ips.join(', ') : 'any'],
        ['allow_any_did_as_source', String(a.allow_any_did_as_source)],
        ['outgoing_dids', show(t.relationships?.outgoing_dids?.data.map((d: any) => d.id))],
        ['outgoing_did_sets', show(setLabels)],
        ['dlr_events', String(a.dlr_events)],
        ['blocked', String(a.blocked)],
        ['external_reference_id', show(a.external_reference_id)],
        ['version', String(a.version)],
        ['created_at', a.created_at],
        ['updated_at', a.updated_at],
      ];
      formatFields(fields).forEach((l) => ctx.out(l));
    });

  trunks
    .command('apply')
    .description('create or update trunks from a spec file (idempotent)')
    .requiredOption('-f, --file <spec.json>', 'trunk spec file, or - for stdin')
    .option('--force', "apply even over a trunk managed by another owner (managed_by)")
    .addHelpText('after', TRUNK_SPEC_HELP)
    .action(async (opts: { file: string; force?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const client = ctx.client();
      const { specs, isArray } = readSpecFile(opts.file, 'trunk');
      const docs: unknown[] = [];
      for (const spec of specs) {
        const doc = await applyTrunk(client, spec, opts.force === true);
        if (ctx.json) docs.push(doc);
        else ctx.out(applyReport('trunk', spec.name, doc));
      }
      if (ctx.json) ctx.printJson(isArray ? docs : docs[0]);
    });

  trunks
    .command('delete')
    .description('delete a trunk; its credentials stop working at once')
    .argument('[trunk]', 'trunk id or name (or use --ref)')
    .option('--ref <external-reference>', 'the trunk with this external_reference_id')
    .option('--if-spec-hash <hash>', 'with --ref: delete only while the trunk carries this managed_spec_hash (what a stack applied)')
    .option('--force', 'delete even a trunk managed by a stack (managed_by)')
    .addHelpText('after', '\nA trunk managed by a stack is refused (409 TRUNK_MANAGED) unless --force; --if-spec-hash is the\nconditional delete reconcilers use and never needs --force.')
    .action(async (name: string | undefined, opts: { ref?: string; ifSpecHash?: string; force?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const client = ctx.client();
      if (opts.ifSpecHash !== undefined) {
        if (opts.ref === undefined) throw new CliError('--if-spec-hash needs --ref <external-reference>', EXIT_USAGE);
        const doc = await client.request('DELETE', `/v1/sms_trunks/by-external-reference/${encodeURIComponent(opts.ref)}`, { query: { if_managed_spec_hash: opts.ifSpecHash } });
        if (ctx.json) return ctx.printJson(doc);
        const m = doc.meta;
        ctx.out(`trunk with ref ${JSON.stringify(opts.ref)}: ${m.deleted ? 'deleted' : m.reason === 'not_found' ? 'not found, nothing deleted' : 'kept: it carries another spec hash'}`);
        return;
      }
      const { data } = await resolveTrunk(client, name, opts.ref);
      await client.request('DELETE', `/v1/sms_trunks/${data.id}`, { query: { force: opts.force ? 'true' : undefined } });
      if (!ctx.json) ctx.out(`trunk "${data.attributes.name}" deleted (${data.id})`);
    });
}

/** A trunk named by id or name, or by --ref (its external_reference_id), exactly one of them. */
export async function resolveTrunk(client: ApiClient, name: string | undefined, ref: string | undefined): Promise<ResourceDoc> {
  if ((name === undefined) === (ref === undefined)) throw new CliError('name the trunk by id or name, or with --ref <external-reference> (one of them)', EXIT_USAGE);
  if (name !== undefined) return resolveByIdOrName(client, 'sms_trunks', name);
  const page = await client.get<{ data: ResourceDoc['data'][] }>('/v1/sms_trunks', { 'filter[external_reference_id]': ref });
  if (!page.data[0]) throw new CliError(`no trunk with external_reference_id ${JSON.stringify(ref)}`);
  return { data: page.data[0] };
}

async function applyTrunk(client: ApiClient, spec: Spec, force: boolean): Promise<any> {
  const setIds = new Map<string, string>();
  for (const name of setNames(spec)) {
    const set = await findByName(client, 'did_sets', name);
    if (!set) throw new CliError(`${spec.where}: DID set ${JSON.stringify(name)} does not exist; create it with \`trunkctl sets apply\``);
    setIds.set(name, set.id);
  }
  const ref = spec.body.external_reference_id;
  // Keyed by the external reference when there is one, so a rename in the spec renames the trunk instead of creating another.
  const path =
    typeof ref === 'string' && ref !== ''
      ? `/v1/sms_trunks/by-external-reference/${encodeURIComponent(ref)}`
      : `/v1/sms_trunks/by-name/${encodeURIComponent(spec.name)}`;
  try {
    return await client.request('PUT', path, { json: trunkDocument(spec, setIds), query: { force: force ? 'true' : undefined } });
  } catch (err) {
    // In a multi-spec file the API's pointer alone does not say which spec it is about.
    if (err instanceof Error && spec.where.endsWith(']')) err.message = `${spec.where} (${spec.name}): ${err.message}`;
    throw err;
  }
}

/** `trunk "acme": created (id …, version 1)`: one line per applied spec. */
function sources(t: any): string {
  if (t.attributes.allow_any_did_as_source) return 'any';
  const dids = t.relationships?.outgoing_dids?.data.length ?? 0;
  const sets = t.relationships?.outgoing_did_sets?.data.length ?? 0;
  return [dids && plural(dids, 'DID'), sets && plural(sets, 'set')].filter(Boolean).join(', ');
}

/** Specs name sets, so `get` shows names too; an id stays visible for sets it cannot name. */
async function labelSets(client: ApiClient, ids: string[]): Promise<string[]> {
  const all = await listAll(client, '/v1/did_sets');
  const names = new Map(all.data.map((s: any) => [s.id, s.attributes.name as string]));
  return ids.map((id) => (names.has(id) ? `${names.get(id)} (${id})` : id));
}
