import fs from 'node:fs';
import path from 'node:path';
import { CliIo, EXIT_FAILED, EXIT_OK, reportError } from './cli-context';
import { reconcileStep } from './reconcile';
import { RESOURCE_ENV } from './reconcile-input';

/**
 * The shared trunkctl process of one `terraform apply`.
 *
 * The constructs' provisioners run `sh control-plane/bin/trunkctl-reconcile.sh apply|destroy`, one
 * per resource. Starting node for each of them cost ~0.15 s of CPU, more than the reconcile itself
 * (a stack of 200 trunks spent most of its deploy starting node). The script instead queues the
 * step in a directory of the Terraform run and waits for its result; the first step that finds no
 * live host becomes the host (`exec node trunkctl.js reconcile serve-queue <run dir> <its pid>`)
 * and runs every queued step, its own included, until the queue stays empty for a moment.
 *
 * Each step keeps its own output and exit code, so Terraform still sees (and taints) each resource
 * on its own, and applies them in dependency order: it starts a step only after the steps it
 * depends on have answered. Layout of the run directory (`.trunkctl-reconcile/<terraform pid>`):
 *
 *     requests/<pid>.<step>          the input of the waiting script with that pid
 *     host.pid                       the host's pid, created exclusively
 *     work/<pid>.<step>.<host pid>   taken by that host (renamed from requests/: one host per step)
 *     results/<pid>.{out,err,code}   stdout, stderr and exit code; `code` is written last
 *
 * Two hosts at once (a lost race) are harmless: a step is taken by renaming its request.
 */

/** How long the host waits for another step before it leaves. */
export const HOST_IDLE_MS = 250;
const POLL_MS = 5;
const REQUEST = /^(\d+)\.(apply|destroy)$/;
/** Under the stack directory, where Terraform runs the provisioners; the script names it too. */
export const RUNS_DIR = '.trunkctl-reconcile';

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

function writeAtomically(file: string, data: string): void {
  fs.writeFileSync(`${file}.tmp`, data);
  fs.renameSync(`${file}.tmp`, file);
}

function readDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Runs the queued steps of `runDir` until none arrives for HOST_IDLE_MS; `ownId` is the pid of the
 * script that became this process, whose step's output goes to `io`. Returns that step's exit code.
 */
export async function serveQueue(runDir: string, ownId: string, io: CliIo): Promise<number> {
  const requests = path.join(runDir, 'requests');
  const work = path.join(runDir, 'work');
  const results = path.join(runDir, 'results');
  const lock = path.join(runDir, 'host.pid');
  const me = String(process.pid);
  fs.mkdirSync(work, { recursive: true });
  fs.mkdirSync(results, { recursive: true });
  removeFinishedRuns(runDir);

  let ownCode: number | undefined;
  const running = new Set<Promise<void>>();

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
  // The script wrote host.pid with its own pid, which exec kept; run by hand, take it if it is free.
  if (!holdsLock()) takeLock();

  async function runOne(id: string, step: 'apply' | 'destroy', taken: string): Promise<void> {
    const own = id === ownId;
    const input = fs.readFileSync(taken, 'utf8');
    if (!own && !alive(Number(id))) {
      // Its script is gone (an interrupted apply): nobody would read the result, and Terraform did not record the step.
      fs.rmSync(taken, { force: true });
      return;
    }
    let stdout = '';
    let stderr = '';
    const stepIo: CliIo = own
      ? { stdout: io.stdout, stderr: io.stderr, env: { ...io.env, [RESOURCE_ENV]: input } }
      : { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: { ...io.env, [RESOURCE_ENV]: input } };
    let code: number;
    try {
      await reconcileStep(step, stepIo);
      code = EXIT_OK;
    } catch (err) {
      code = reportError(err, stepIo);
    }
    if (own) ownCode = code;
    else {
      fs.writeFileSync(path.join(results, `${id}.out`), stdout);
      fs.writeFileSync(path.join(results, `${id}.err`), stderr);
      writeAtomically(path.join(results, `${id}.code`), `${code}\n`);
    }
    fs.rmSync(taken, { force: true });
  }

  let idleSince = Date.now();
  for (;;) {
    const queued = readDir(requests).filter((n) => REQUEST.test(n));
    for (const name of queued) {
      const [, id, step] = REQUEST.exec(name)!;
      const taken = path.join(work, `${name}.${me}`);
      try {
        fs.renameSync(path.join(requests, name), taken);
      } catch {
        continue; // another host took it
      }
      const p = runOne(id!, step as 'apply' | 'destroy', taken).finally(() => running.delete(p));
      running.add(p);
    }
    if (queued.length > 0 || running.size > 0) {
      idleSince = Date.now();
    } else if (Date.now() - idleSince >= HOST_IDLE_MS) {
      // Leave: release the lock, then look once more, so a step queued meanwhile either sees no
      // host (and starts one) or is served here.
      if (holdsLock()) fs.rmSync(lock, { force: true });
      if (!readDir(requests).some((n) => REQUEST.test(n)) || !takeLock()) break;
      idleSince = Date.now();
      continue;
    }
    await Promise.race([sleep(POLL_MS), ...running]);
  }
  if (ownCode === undefined) ownCode = await relayResult(runDir, ownId, io);
  return ownCode;
}

/** This process's own step was taken by another host (a lost race): wait for its result like the script does. */
async function relayResult(runDir: string, id: string, io: CliIo): Promise<number> {
  const results = path.join(runDir, 'results');
  for (;;) {
    const codeFile = path.join(results, `${id}.code`);
    if (fs.existsSync(codeFile)) {
      io.stdout.write(fs.readFileSync(path.join(results, `${id}.out`), 'utf8'));
      io.stderr.write(fs.readFileSync(path.join(results, `${id}.err`), 'utf8'));
      const code = Number(fs.readFileSync(codeFile, 'utf8').trim());
      for (const ext of ['out', 'err', 'code']) fs.rmSync(path.join(results, `${id}.${ext}`), { force: true });
      return Number.isInteger(code) ? code : EXIT_FAILED;
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
    if (!served && !fs.existsSync(codeFile)) {
      io.stderr.write('trunkctl: the shared reconcile process ended before finishing this step; run the deploy again\n');
      return EXIT_FAILED;
    }
    await sleep(20);
  }
}

/** Run directories of Terraform processes that have exited (an interrupted apply leaves one behind). */
function removeFinishedRuns(runDir: string): void {
  const parent = path.dirname(path.resolve(runDir));
  if (path.basename(parent) !== RUNS_DIR) return;
  const current = path.basename(path.resolve(runDir));
  for (const name of readDir(parent)) {
    if (name === current || !/^\d+$/.test(name) || alive(Number(name))) continue;
    fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
}
