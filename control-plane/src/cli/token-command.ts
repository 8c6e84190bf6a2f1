import { Command } from 'commander';
import { CliContext } from './cli-context';

type Context = (cmd: Command) => CliContext;

export function tokenCommand(parent: Command, context: Context): void {
  const token = parent.command('token').description('admin tokens for the management API');

  token
    .command('create')
    .description('create an admin token; it is printed once and stored only as a hash')
    .argument('<name>', 'what the token is for, e.g. "ci" (shown in the audit log)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const doc = await ctx.client().request('POST', '/v1/admin_tokens', { json: { data: { type: 'admin_tokens', attributes: { name } } } });
      if (ctx.json) return ctx.printJson(doc);
      // The token alone on stdout, so `TOKEN=$(trunkctl token create ci)` captures exactly it.
      ctx.out(doc.data.attributes.token);
      ctx.note(`admin token "${doc.data.attributes.name}" created (id ${doc.data.id}); it is shown only now, store it safely`);
    });
}
