import { Command } from 'commander';
import { CliContext, CliError } from './cli-context';
import { reconcileStep } from './reconcile';
import { RESOURCE_ENV } from './reconcile-input';
import { serveQueue } from './reconcile-queue';

type Context = (cmd: Command) => CliContext;

const HELP = `
Run by the local-exec provisioners that the CDKTF constructs synthesize (see docs/TRUNKS-AS-CODE.md);
rarely by hand. The resource input (JSON, no secrets) comes from $${RESOURCE_ENV}; the control plane
URL is in it, and the admin token is read from the variable it names (token_env, TRUNKCTL_TOKEN by
default). Every step is idempotent: apply is an upsert, destroy deletes only while the live resource
still carries the spec hash this resource applied.`;

export function reconcileCommand(parent: Command, context: Context): void {
  const reconcile = parent.command('reconcile').description("apply or destroy one resource declared by a CDKTF stack (the constructs' provisioners run this)").addHelpText('after', HELP);
  for (const step of ['apply', 'destroy'] as const) {
    reconcile
      .command(step)
      .description(step === 'apply' ? 'create or update the declared trunk or set, rotate a password, or prune leftovers' : 'delete the declared trunk or set if it still carries this spec')
      .option('--from-env <name>', 'environment variable holding the resource input', RESOURCE_ENV)
      .action(async (opts: { fromEnv: string }, cmd: Command) => {
        // control-plane/bin/trunkctl.js runs the same step without this parser for `reconcile apply|destroy` alone.
        await reconcileStep(step, context(cmd).io, opts.fromEnv);
      });
  }
  // Started by control-plane/bin/trunkctl-reconcile.sh (see reconcile-queue.ts); not for people.
  reconcile
    .command('serve-queue', { hidden: true })
    .argument('<run-dir>')
    .argument('<own-id>')
    .action(async (runDir: string, ownId: string, _opts: unknown, cmd: Command) => {
      const code = await serveQueue(runDir, ownId, context(cmd).io);
      // The step's own failure is printed already; an empty message only carries its exit code.
      if (code !== 0) throw new CliError('', code);
    });
}
