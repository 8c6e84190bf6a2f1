import type { Command } from 'commander';
import { ApiClient, ApiError, UnreachableError } from './api-client';

export interface Output {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/** Where the CLI reads its environment and writes its output; tests pass buffers, the binary passes process streams. */
export interface CliIo {
  stdout: Output;
  stderr: Output;
  env: Record<string, string | undefined>;
}

export const EXIT_OK = 0;
/** The operation failed: an API error, an unreachable server, a bad input file. */
export const EXIT_FAILED = 1;
/** The command line or the configuration is wrong: unknown command or option, missing TRUNKCTL_URL. */
export const EXIT_USAGE = 2;
/** `trunkctl drift` found differences between a stack and the control plane. */
export const EXIT_DRIFT = 3;

/** An error the CLI reports as one line (without a stack) and turns into an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

interface GlobalOptions {
  url?: string;
  token?: string;
  tokenEnv?: string;
  json?: boolean;
}

/** What every command needs: the API client, the output streams and the --json switch. */
export class CliContext {
  constructor(
    readonly io: CliIo,
    private readonly command: Command,
  ) {}

  private get globals(): GlobalOptions {
    return this.command.optsWithGlobals<GlobalOptions>();
  }

  get json(): boolean {
    return this.globals.json === true;
  }

  /** Flags win over the environment, so one call can target another server without re-exporting. */
  client(defaults: { url?: string; tokenEnv?: string } = {}): ApiClient {
    const tokenEnv = this.globals.tokenEnv ?? defaults.tokenEnv ?? 'TRUNKCTL_TOKEN';
    const url = this.globals.url ?? defaults.url ?? nonEmpty(this.io.env.TRUNKCTL_URL);
    const token = this.globals.token ?? nonEmpty(this.io.env[tokenEnv]);
    const missing = [url === undefined && 'TRUNKCTL_URL', token === undefined && tokenEnv].filter(Boolean);
    if (missing.length) {
      const flags = missing.map((m) => (m === 'TRUNKCTL_URL' ? '--url' : '--token')).join('/');
      throw new CliError(`set ${missing.join(' and ')} (or pass ${flags}); \`trunkctl serve\` prints the values on first start`, EXIT_USAGE);
    }
    if (!/^https?:\/\/[^/]/i.test(url!)) {
      throw new CliError(`TRUNKCTL_URL must be an http:// or https:// URL such as http://127.0.0.1:8080, got ${JSON.stringify(url)}`, EXIT_USAGE);
    }
    return new ApiClient(url!, token!);
  }

  out(line = ''): void {
    this.io.stdout.write(`${line}\n`);
  }

  /** Notes for the person at the terminal go to stderr, so stdout stays clean for pipes. */
  note(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }

  printJson(doc: unknown): void {
    this.out(JSON.stringify(doc, null, 2));
  }
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v.trim());

/** Prints an error the way trunkctl reports failures and returns the exit code it means. */
export function reportError(err: unknown, io: CliIo): number {
  if (err instanceof ApiError) {
    err.lines().forEach((line, i) => io.stderr.write(i === 0 ? `trunkctl: ${line}\n` : `${line}\n`));
    return EXIT_FAILED;
  }
  if (err instanceof CliError && err.message === '') return err.exitCode; // reported already
  if (err instanceof CliError || err instanceof UnreachableError) {
    io.stderr.write(`trunkctl: ${err.message}\n`);
    return err instanceof CliError ? err.exitCode : EXIT_FAILED;
  }
  io.stderr.write(`trunkctl: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT_FAILED;
}
