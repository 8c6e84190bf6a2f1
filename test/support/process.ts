import { ChildProcess, spawn } from 'node:child_process';
import { MAIN_JS, ROOT } from './build';

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** Starts the compiled control plane (as `npm start` does) and resolves once it prints its URL. */
export function startServer(env: Record<string, string>, timeoutMs = 20_000): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN_JS], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'warn', ...env } });
    let out = '';
    const exited = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(code ?? signal ?? 'unknown')));
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      out += d;
      const m = /running at (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]!, output: () => out, exited });
    });
    void exited.then((code) => reject(new Error(`server exited with ${code}: ${out}`)));
    setTimeout(() => reject(new Error(`server did not start within ${timeoutMs} ms: ${out}`)), timeoutMs).unref();
  });
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end and collects its output. A child process, not spawnSync: tests that
 * serve a platform from their own process must keep its event loop running meanwhile.
 */
export function runCommand(command: string, args: string[], options: { cwd?: string; env: Record<string, string> }): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
