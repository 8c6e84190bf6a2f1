import { Command } from 'commander';
import { CliContext } from './cli-context';
import { applyReport, formatTable } from './format';
import { listAll, resolveByIdOrName } from './resolve';
import { didSetDocument, readSpecFile, SET_SPEC_HELP } from './spec-files';

type Context = (cmd: Command) => CliContext;

export function setsCommand(parent: Command, context: Context): void {
  const sets = parent.command('sets').description('source-DID sets: named groups of DIDs that trunks may send from');

  sets
    .command('list')
    .description('list all DID sets')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const doc = await listAll(ctx.client(), '/v1/did_sets');
      if (ctx.json) return ctx.printJson(doc);
      if (doc.data.length === 0) return ctx.out('no DID sets');
      const rows = doc.data.map((s: any) => [s.attributes.name, s.id, String(s.attributes.did_count), String(s.attributes.version)]);
      formatTable(['NAME', 'ID', 'DIDS', 'VERSION'], rows).forEach((l) => ctx.out(l));
    });

  sets
    .command('apply')
    .description('create or update DID sets from a spec file (idempotent)')
    .requiredOption('-f, --file <set.json>', 'DID set spec file, or - for stdin')
    .addHelpText('after', SET_SPEC_HELP)
    .action(async (opts: { file: string }, cmd: Command) => {
      const ctx = context(cmd);
      const client = ctx.client();
      const { specs, isArray } = readSpecFile(opts.file, 'did set');
      const docs: unknown[] = [];
      for (const spec of specs) {
        let doc: any;
        try {
          doc = await client.request('PUT', `/v1/did_sets/by-name/${encodeURIComponent(spec.name)}`, { json: didSetDocument(spec) });
        } catch (err) {
          if (err instanceof Error && isArray) err.message = `${spec.where} (${spec.name}): ${err.message}`;
          throw err;
        }
        if (ctx.json) docs.push(doc);
        else ctx.out(applyReport('DID set', spec.name, doc));
      }
      if (ctx.json) ctx.printJson(isArray ? docs : docs[0]);
    });

  sets
    .command('delete')
    .description('delete a DID set (refused while a trunk uses it)')
    .argument('<set>', 'DID set id or name')
    .option('--if-spec-hash <hash>', 'delete the set of this name only while it carries this managed_spec_hash (what a stack applied)')
    .option('--force', 'delete even a set managed by a stack (managed_by)')
    .action(async (ref: string, opts: { ifSpecHash?: string; force?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const client = ctx.client();
      if (opts.ifSpecHash !== undefined) {
        const doc = await client.request('DELETE', `/v1/did_sets/by-name/${encodeURIComponent(ref)}`, { query: { if_managed_spec_hash: opts.ifSpecHash } });
        if (ctx.json) return ctx.printJson(doc);
        const m = doc.meta;
        ctx.out(`DID set "${ref}": ${m.deleted ? 'deleted' : m.reason === 'not_found' ? 'not found, nothing deleted' : 'kept: it carries another spec hash'}`);
        return;
      }
      const { data } = await resolveByIdOrName(client, 'did_sets', ref);
      await client.request('DELETE', `/v1/did_sets/${data.id}`, { query: { force: opts.force ? 'true' : undefined } });
      if (!ctx.json) ctx.out(`DID set "${data.attributes.name}" deleted (${data.id})`);
    });
}
