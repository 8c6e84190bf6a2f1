import { Command, CommanderError } from 'commander';
import { CliContext, CliIo, EXIT_OK, EXIT_USAGE, reportError } from './cli-context';
import { credsCommand } from './creds-command';
import { didsCommand } from './dids-command';
import { driftCommand } from './drift-command';
import { reconcileCommand } from './reconcile-command';
import { setsCommand } from './sets-command';
import { tokenCommand } from './token-command';
import { trunksCommand } from './trunks-command';

const GLOBAL_HELP = `
Environment:
  TRUNKCTL_URL     control plane URL, e.g. http://127.0.0.1:8080 (--url overrides)
  TRUNKCTL_TOKEN   admin token (--token overrides; prefer the variable, flags show up in ps)

Exit codes: 0 success; 1 the operation failed (API error, server unreachable, bad input file);
2 bad invocation or configuration (unknown command or option, missing TRUNKCTL_URL/TRUNKCTL_TOKEN);
3 \`trunkctl drift\` found differences.`;

export function createProgram(io: CliIo): Command {
  const program = new Command('trunkctl')
    .description('Manage the SMS OUT trunk platform: DIDs, source-DID sets, trunks as code, credentials')
    .option('--url <url>', 'control plane URL (default: $TRUNKCTL_URL)')
    .option('--token <token>', 'admin token (default: $TRUNKCTL_TOKEN)')
    .option('--token-env <name>', 'read the admin token from this environment variable instead of TRUNKCTL_TOKEN')
    .option('--json', 'print the raw JSON:API response documents, for scripts')
    .addHelpText('after', GLOBAL_HELP)
    // Settings before the subcommands: commander copies them into each one when it is created.
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Commander's "error: …" and its "(Did you mean …?)" hint become one line in our format.
      outputError: (s, write) => write(`trunkctl: ${s.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()}\n`),
    });
  const context = (cmd: Command) => new CliContext(io, cmd);

  program
    .command('serve')
    .description('start the control plane in this process (same as npm start; configured by its env vars)')
    .action(async () => {
      // Loaded only here: the server pulls in express, knex and the database drivers, which the other commands never need.
      const { main } = await import('../main');
      await main();
    });
  didsCommand(program, context);
  setsCommand(program, context);
  trunksCommand(program, context);
  credsCommand(program, context);
  tokenCommand(program, context);
  driftCommand(program, context);
  reconcileCommand(program, context);
  return program;
}

/**
 * Runs one trunkctl invocation and returns its exit code instead of exiting, so tests can call it
 * in-process. `argv` is in process.argv form: [node, script, ...args].
 */
export async function run(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  try {
    await createProgram(io).parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    return reportError(err, io);
  }
}
