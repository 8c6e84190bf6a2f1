import fs from 'node:fs';
import path from 'node:path';
import { CliIo, EXIT_FAILED, EXIT_OK, reportError } from './cli-context';
import { reconcileStep } from './reconcile';
import { RESOURCE_ENV } from './reconcile-input';

/**
 * The shared trunkctl process of one `terraform apply`.
 *
 * The constructs' provisioners run `sh control-plane/bin/trunkctl-reconcile.sh apply|destroy`, one
 * per resource. Starting node for each of them cost ~0.15 s of CPU, more than the reconcile
 * itself: a stack of 200 trunks spent most of its deploy starting node. The script instead queues
 * the step in a directory of the Terraform run and waits for its result; the first step that finds
 * no live host becomes the host (`exec node trunkctl.js reconcile serve-queue <run dir> <its pid>`)
 * and runs every queued step, its own included, until the queue has stayed empty for a moment.
 *
 * Each step keeps its own output and exit code, so Terraform still sees, logs and taints each
 * resource on its own, and applies them in dependency order: it starts a step only after the steps
 * it depends on have answered. The run directory, `.trunkctl-reconcile/<terraform pid>/` in the
 * stack directory, holds:
 *
 *     inputs/<pid>                 the input of the waiting script with that pid
 *     requests/<pid>.<step>        written after its input: the step is ready
 *     host.pid                     the host's pid, created exclusively
 *     work/<pid>.<step>.<host pid> taken by that host (renamed from requests/: one host per step)
 *     results/<pid>                the exit code, then "1 <line>" (stdout) and "2 <line>" (stderr)
 *
 * Two hosts at once (a lost race) are harmless: a step is taken by renaming its request.
 */

/** How long the host waits for another step before it leaves. */
export const HOST_IDLE_MS = 250;
/** Under the stack directory, where Terraform runs the provisioners; the script names it too. */
export const RUNS_DIR = '.trunkctl-reconcile';
const POLL_MS = 5;
const CLEAN_EVERY_MS = 1000;
const REQUEST = /^(\d+)\.(apply|destroy)$/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function alive(pid: number): boolean {
  // 0 and negative numbers would signal process groups.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The result file the script reads: exit code, then each output line tagged with its stream. */
export function encodeResult(code: number, stdout: string, stderr: string): string {
  const lines = (text: string, tag: string) => (text === '' ? [] : text.replace(/\n$/, '').split('\n').map((l) => `${tag} ${l}`));
  return [String(code), ...lines(stdout, '1'), ...lines(stderr, '2')].join('\n') + '\n';
}

/**
 * Runs the queued steps of `runDir` until none arrives for HOST_IDLE_MS; `ownId` is the pid of the
 * script that became this process, whose step's output goes to `io`. Returns that step's exit code.
 */
export async function serveQueue(runDir: string, ownId: string, io: CliIo): Promise<number> {
  const dirs = { inputs: path.join(runDir, 'inputs'), requests: path.join(runDir, 'requests'), work: path.join(runDir, 'work'), results: path.join(runDir, 'results') };
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(runDir, 'host.pid');
  const me = String(process.pid);
  removeFinishedRuns(runDir);

  const holdsLock = () => {
    try {
      return fs.readFileSync(lock, 'utf8').trim() === me;
    } catch {
      return false;
    }
  };
  const takeLock = () => {
    try {
      fs.writeFileSync(lock, `${me}\n`, { flag: 'wx' });
      return true;
    } catch {
      return false;
    }
  };
  // The script created host.pid with its pid, which exec kept; run by hand, take it if it is free.
  if (!holdsLock()) takeLock();

  let ownCode: number | undefined;
  const running = new Set<Promise<void>>();

  async function runOne(id: string, step: 'apply' | 'destroy', taken: string): Promise<void> {
    const own = id === ownId;
    const inputFile = path.join(dirs.inputs, id);
    try {
      if (!own && !alive(Number(id))) return; // its script is gone (an interrupted apply): nobody reads the result
      let input = '';
      try {
        input = fs.readFileSync(inputFile, 'utf8');
      } catch {}
      let stdout = '';
      let stderr = '';
      const env = { ...io.env, [RESOURCE_ENV]: input };
      const stepIo: CliIo = own ? { stdout: io.stdout, stderr: io.stderr, env } : { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env };
      let code: number;
      try {
        await reconcileStep(step, stepIo);
        code = EXIT_OK;
      } catch (err) {
        code = reportError(err, stepIo);
      }
      if (own) ownCode = code;
      else {
        const result = path.join(dirs.results, id);
        fs.writeFileSync(`${result}.tmp`, encodeResult(code, stdout, stderr));
        fs.renameSync(`${result}.tmp`, result);
      }
    } finally {
      fs.rmSync(inputFile, { force: true });
      fs.rmSync(taken, { force: true });
    }
  }

  /** Results read by scripts that have exited, and inputs whose script died before a host took them. */
  function clean(): void {
    for (const name of readDir(dirs.results)) if (!alive(Number(name.replace(/\.tmp$/, '')))) fs.rmSync(path.join(dirs.results, name), { force: true });
    for (const name of readDir(dirs.requests)) {
      const m = REQUEST.exec(name);
      if (m && !alive(Number(m[1]))) {
        fs.rmSync(path.join(dirs.requests, name), { force: true });
        fs.rmSync(path.join(dirs.inputs, m[1]!), { force: true });
      }
    }
  }

  let idleSince = Date.now();
  let cleaned = 0;
  for (;;) {
    const queued = readDir(dirs.requests).filter((n) => REQUEST.test(n));
    for (const name of queued) {
      const [, id, step] = REQUEST.exec(name)!;
      const taken = path.join(dirs.work, `${name}.${me}`);
      try {
        fs.renameSync(path.join(dirs.requests, name), taken);
      } catch {
        continue; // another host took it
      }
      const p = runOne(id!, step as 'apply' | 'destroy', taken)
        .catch((err) => {
          io.stderr.write(`trunkctl: reconcile queue: ${(err as Error).message}\n`);
          if (id === ownId) ownCode = EXIT_FAILED;
        })
        .finally(() => running.delete(p));
      running.add(p);
    }
    if (Date.now() - cleaned >= CLEAN_EVERY_MS) {
      clean();
      cleaned = Date.now();
    }
    if (queued.length > 0 || running.size > 0) {
      idleSince = Date.now();
    } else if (Date.now() - idleSince >= HOST_IDLE_MS) {
      // Leave: release the lock, then look once more. A script queues its step before it looks for
      // a host, so a step queued meanwhile is either seen here or finds no host and starts one.
      if (holdsLock()) fs.rmSync(lock, { force: true });
      if (!readDir(dirs.requests).some((n) => REQUEST.test(n)) || !takeLock()) break;
      idleSince = Date.now();
      continue;
    }
    await Promise.race([sleep(POLL_MS), ...running]);
  }
  clean();
  return ownCode ?? (await relayResult(runDir, ownId, io));
}

/** This process's own step was taken by another host (a lost race): wait for its result as the script does. */
async function relayResult(runDir: string, id: string, io: CliIo): Promise<number> {
  const file = path.join(runDir, 'results', id);
  for (;;) {
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {}
    if (text !== undefined) {
      const [code, ...lines] = text.replace(/\n$/, '').split('\n');
      for (const line of lines) (line.startsWith('2 ') ? io.stderr : io.stdout).write(`${line.slice(2)}\n`);
      fs.rmSync(file, { force: true });
      return Number.isInteger(Number(code)) ? Number(code) : EXIT_FAILED;
    }
    const queued = readDir(path.join(runDir, 'requests')).some((n) => n.startsWith(`${id}.`));
    const takenBy = readDir(path.join(runDir, 'work'))
      .filter((n) => n.startsWith(`${id}.`))
      .map((n) => Number(n.split('.').pop()));
    let host = NaN;
    try {
      host = Number(fs.readFileSync(path.join(runDir, 'host.pid'), 'utf8').trim());
    } catch {}
    const served = queued ? alive(host) : takenBy.some(alive);
    if (!served && !fs.existsSync(file)) {
      io.stderr.write('trunkctl: the shared reconcile process ended before finishing this step; run the deploy again\n');
      return EXIT_FAILED;
    }
    await sleep(20);
  }
}

/** Run directories of Terraform processes that have exited (every run leaves its directory behind). */
function removeFinishedRuns(runDir: string): void {
  const parent = path.dirname(path.resolve(runDir));
  if (path.basename(parent) !== RUNS_DIR) return;
  const current = path.basename(path.resolve(runDir));
  for (const name of readDir(parent)) {
    if (name === current || !/^\d+$/.test(name) || alive(Number(name))) continue;
    fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
}
