import { Command, Option } from 'commander';
import { DID_CAPABILITIES } from '../dids/did-validation';
import { CliContext } from './cli-context';
import { readDidImport, withUploadProgress } from './did-import';
import { formatTable, plural, show } from './format';
import { positiveInt } from './options';

type Context = (cmd: Command) => CliContext;

export function didsCommand(parent: Command, context: Context): void {
  const dids = parent.command('dids').description('import and list DIDs (phone numbers)');

  dids
    .command('import')
    .description('create or update DIDs from a .csv or .json file, all or nothing')
    .argument('<file>', '.csv (number,capabilities,description; header optional) or .json (array of DIDs or a JSON:API document)')
    .option('--force', 'allow removing sms_out from DIDs that trunks or sets still use (detaches them)')
    .addHelpText(
      'after',
      `
CSV:  number,capabilities,description      capabilities separated by ";" (empty: sms_out)
      12125550100,sms_out,NYC alerts
JSON: [{"number": "12125550100", "capabilities": ["sms_out"], "description": "NYC alerts"}]

A bad row rejects the whole file; every bad row is reported with its row number.`,
    )
    .action(async (file: string, opts: { force?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const client = ctx.client();
      const { body, contentType } = readDidImport(file);
      const upload = await withUploadProgress(body, ctx.io.stderr);
      let doc: any;
      try {
        doc = await client.request('POST', '/v1/dids/import', { body: upload.body, contentType, query: { force: opts.force ? 'true' : undefined } });
      } finally {
        upload.stop();
      }
      if (ctx.json) return ctx.printJson(doc);
      const m = doc.meta;
      ctx.out(`imported ${plural(m.rows, 'row')}: ${m.created} created, ${m.updated} updated, ${m.unchanged} unchanged`);
    });

  dids
    .command('list')
    .description('list DIDs, a page at a time')
    .option('--filter <digits>', 'only numbers containing these digits')
    .addOption(new Option('--capability <capability>', 'only DIDs with this capability').choices(DID_CAPABILITIES))
    .option('--page <n>', 'page number', positiveInt, 1)
    .option('--size <n>', 'page size (at most 1000)', positiveInt, 50)
    .action(async (opts: { filter?: string; capability?: string; page: number; size: number }, cmd: Command) => {
      const ctx = context(cmd);
      const doc = await ctx.client().get('/v1/dids', {
        'filter[number]': opts.filter,
        'filter[capability]': opts.capability,
        'page[number]': opts.page,
        'page[size]': opts.size,
      });
      if (ctx.json) return ctx.printJson(doc);
      const total: number = doc.meta.total;
      if (doc.data.length === 0) return ctx.out(total === 0 ? 'no DIDs' : `no DIDs on page ${opts.page} (${plural(total, 'DID')} in all)`);
      const rows = doc.data.map((d: any) => [d.id, show(d.attributes.capabilities), show(d.attributes.description)]);
      formatTable(['NUMBER', 'CAPABILITIES', 'DESCRIPTION'], rows).forEach((l) => ctx.out(l));
      const pages = Math.ceil(total / opts.size);
      if (pages > 1) ctx.out(`page ${opts.page} of ${pages} (${plural(total, 'DID')}); next: --page ${opts.page + 1}`);
    });
}
