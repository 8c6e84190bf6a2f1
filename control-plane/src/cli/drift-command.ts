import { Command } from 'commander';
import { CliContext, CliError, EXIT_DRIFT } from './cli-context';
import { checkDrift, DriftStatus, Finding, fixDrift, readSynth, STATUS_TEXT } from './drift';
import { plural } from './format';

type Context = (cmd: Command) => CliContext;

/** What the stack itself will change on its next deploy: reported, but not drift. */
const PENDING: DriftStatus[] = ['not_deployed', 'missing'];

const HELP = `
Reads what \`cdktf synth\` wrote (cdktf.out, a stack directory or a cdk.tf.json) and compares every
trunk and DID set the stack declares with the live control plane: fields changed by a forced
edit, specs not deployed yet, resources deleted by hand, and resources still marked as managed
by the stack that it no longer declares. Terraform cannot see any of this: its state only holds
what the last apply sent.

Changes made outside the stack (forced edits, leftovers) fail the check; changes the stack itself
declares but has not deployed yet (new, or different from the last deploy) are listed and pass,
so the check can run before \`cdktf deploy\` in the same CI job. --strict fails on those too (for a
check after deploy). The control plane URL and the token variable come from the stack (--url /
--token / --token-env override them). Exit codes: 0 in sync, 3 drift (the diff is on stdout), 1 error.

Example (a CI check before apply):
  npx cdktf synth && npx trunkctl drift cdktf.out`;

export function driftCommand(parent: Command, context: Context): void {
  parent
    .command('drift')
    .description('compare the trunks and sets a synthesized CDKTF stack declares with the live ones; exit 3 on differences')
    .argument('<synth-dir>', 'cdktf.out (or one stack directory, or a cdk.tf.json)')
    .option('--stack <name>', 'check only this stack')
    .option('--fix', 're-apply the declared spec where it was changed or deleted by hand, and delete leftovers')
    .option('--strict', 'also fail on changes the stack declares but has not deployed yet')
    .addHelpText('after', HELP)
    .action(async (dir: string, opts: { stack?: string; fix?: boolean; strict?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const stacks = readSynth(dir, opts.stack);
      const report: Array<{ stack: string; managed_by?: string; findings: Finding[]; fixed?: string[] }> = [];
      let differing = 0;
      let unfixed = 0;
      for (const stack of stacks) {
        const first = stack.declared[0]?.input;
        if (!first) {
          if (!ctx.json) ctx.out(`stack ${stack.name}: declares no trunks or DID sets`);
          report.push({ stack: stack.name, findings: [] });
          continue;
        }
        const client = ctx.client({ url: first.api, tokenEnv: first.token_env });
        const findings = await checkDrift(client, stack);
        const bad = findings.filter((f) => f.status !== 'in_sync');
        const failing = bad.filter((f) => opts.strict || !PENDING.includes(f.status));
        differing += failing.length;
        const entry: (typeof report)[number] = { stack: stack.name, managed_by: first.managed_by, findings };
        if (!ctx.json) {
          ctx.out(`stack ${stack.name} (${first.managed_by}) at ${client.baseUrl}`);
          for (const f of findings) {
            const { mark, text } = STATUS_TEXT[f.status];
            if (f.status === 'in_sync') continue;
            ctx.out(`  ${mark} ${f.label}: ${text}`);
            f.differences.forEach((d) => ctx.out(`      ${d}`));
          }
          const sets = findings.filter((f) => f.kind === 'did_set' && f.status === 'in_sync').length;
          const trunks = findings.filter((f) => f.kind === 'trunk' && f.status === 'in_sync').length;
          ctx.out(`  in sync: ${plural(sets, 'DID set')}, ${plural(trunks, 'trunk')}`);
        }
        if (opts.fix && bad.length) {
          entry.fixed = await fixDrift(client, findings, first.managed_by, stack.declared.map((d) => d.input));
          if (!ctx.json) entry.fixed.forEach((l) => ctx.out(`  fixed: ${l}`));
          unfixed += failing.filter((f) => f.status === 'not_deployed').length;
        }
        report.push(entry);
      }
      if (ctx.json) {
        ctx.printJson({
          stacks: report.map((r) => ({
            ...r,
            findings: r.findings.map(({ input: _input, ...f }) => f),
          })),
        });
      }
      const remaining = opts.fix ? unfixed : differing;
      if (remaining > 0) {
        throw new CliError(
          opts.fix
            ? `drift: ${plural(remaining, 'resource')} still ${remaining === 1 ? 'differs' : 'differ'}: the stack declares specs that are not deployed yet; run cdktf deploy`
            : `drift: ${plural(differing, 'resource')} ${differing === 1 ? 'differs' : 'differ'} from the stack (see above)${opts.strict ? '' : '; changes the stack will deploy are not counted'}`,
          EXIT_DRIFT,
        );
      }
    });
}
