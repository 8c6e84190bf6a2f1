import { Command, Option } from 'commander';
import { CliContext, CliError } from './cli-context';
import { formatFields, show } from './format';
import { nonNegativeInt, positiveInt } from './options';
import { resolveTrunk } from './trunks-command';

type Context = (cmd: Command) => CliContext;
type Format = 'text' | 'env' | 'json';

const formatOption = () =>
  new Option('--format <format>', 'text, env (SMS_OUT_* lines for eval or $GITHUB_ENV) or json').choices(['text', 'env', 'json']).default('text');

export function credsCommand(parent: Command, context: Context): void {
  const creds = parent.command('creds').description("a trunk's send credentials: show, regenerate, share by one-time link");

  creds
    .command('show')
    .description('show the username, password and send URL of a trunk')
    .argument('[trunk]', 'trunk id or name (or use --ref)')
    .option('--ref <external-reference>', 'the trunk with this external_reference_id (as a CDKTF stack declares it)')
    .addOption(formatOption())
    .addHelpText('after', '\nExample: eval "$(trunkctl creds show acme --format env)"   or   trunkctl creds show acme --format env >> "$GITHUB_ENV"')
    .action(async (name: string | undefined, opts: { ref?: string; format: Format }, cmd: Command) => {
      const ctx = context(cmd);
      const client = ctx.client();
      const { data } = await resolveTrunk(client, name, opts.ref);
      const doc = await client.get(`/v1/sms_trunks/${data.id}/credentials`);
      printCredentials(ctx, doc, ctx.json ? 'json' : opts.format);
    });

  creds
    .command('regenerate')
    .description('issue a new password; the old one stops working (after --grace seconds)')
    .argument('[trunk]', 'trunk id or name (or use --ref)')
    .option('--ref <external-reference>', 'the trunk with this external_reference_id (as a CDKTF stack declares it)')
    .option('--grace <seconds>', 'keep accepting the old password this long, for a rolling switch', nonNegativeInt)
    .addOption(formatOption())
    .action(async (name: string | undefined, opts: { ref?: string; grace?: number; format: Format }, cmd: Command) => {
      const ctx = context(cmd);
      const client = ctx.client();
      const { data } = await resolveTrunk(client, name, opts.ref);
      const attributes = opts.grace === undefined ? {} : { grace_period_seconds: opts.grace };
      const doc = await client.request('POST', `/v1/sms_trunks/${data.id}/credentials/regenerate`, { json: { data: { type: 'credential_regenerations', attributes } } });
      printCredentials(ctx, doc, ctx.json ? 'json' : opts.format);
    });

  creds
    .command('share')
    .description('create a one-time link that reveals the credentials once, e.g. for a customer')
    .argument('[trunk]', 'trunk id or name (or use --ref)')
    .option('--ref <external-reference>', 'the trunk with this external_reference_id (as a CDKTF stack declares it)')
    .option('--expires <seconds>', 'link lifetime (server default when left out)', positiveInt)
    .option('--recipient <text>', 'who the link is for; shown on the page and in the audit log')
    .action(async (name: string | undefined, opts: { ref?: string; expires?: number; recipient?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const client = ctx.client();
      const { data } = await resolveTrunk(client, name, opts.ref);
      const attributes = { expires_in_seconds: opts.expires, recipient: opts.recipient };
      const doc = await client.request('POST', `/v1/sms_trunks/${data.id}/credentials/share`, { json: { data: { type: 'share_links', attributes } } });
      if (ctx.json) return ctx.printJson(doc);
      // The URL alone on the first line, so `trunkctl creds share x | head -1` is the link.
      ctx.out(doc.data.attributes.url);
      ctx.out(`one-time link to the credentials of trunk "${data.attributes.name}"; expires ${doc.data.attributes.expires_at}`);
    });
}

/** Values that are safe unquoted both for `eval` and for $GITHUB_ENV (which takes no quoting at all). */
const ENV_SAFE = /^[A-Za-z0-9_@%+=:,./-]*$/;

function printCredentials(ctx: CliContext, doc: any, format: Format): void {
  if (format === 'json') return ctx.printJson(doc);
  const a = doc.data.attributes;
  if (format === 'env') {
    const lines: Array<[string, string]> = [
      ['SMS_OUT_USERNAME', a.username],
      ['SMS_OUT_PASSWORD', a.password],
      ['SMS_OUT_URL', a.host],
    ];
    for (const [k, v] of lines) {
      // Refusing beats quoting: a quote or newline would be read differently by a shell and by $GITHUB_ENV.
      if (!ENV_SAFE.test(v)) throw new CliError(`${k} holds characters that are unsafe in env format; use --format json`);
    }
    lines.forEach(([k, v]) => ctx.out(`${k}=${v}`));
    return;
  }
  const fields: Array<[string, string]> = [
    ['username', a.username],
    ['password', a.password],
    ['url', a.host],
    ['rotated_at', show(a.rotated_at)],
  ];
  if (a.previous_password_valid_until) fields.push(['previous password valid until', a.previous_password_valid_until]);
  formatFields(fields).forEach((l) => ctx.out(l));
}
