'use strict';
/** Child processes of the benchmark: helpers over IPC, the platform as `npm start` runs it, RSS sampling. */
const { fork, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../..');
const MAIN_JS = path.join(ROOT, 'dist/control-plane/src/main.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Every child started here; killed on exit even when the benchmark throws. */
const children = new Set();
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function killAll() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {}
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** Waits for a child to exit, sending SIGTERM and after `graceMs` SIGKILL. */
async function stopChild(child, graceMs = 8000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

/** A helper script (bare-express.js, bare-gateway.js) forked with IPC; resolves once it reports its port. */
function forkHelper(script, options = {}) {
  const child = track(fork(path.join(ROOT, 'bench', script), [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' }));
  let nextId = 1;
  const pending = new Map();
  child.on('message', (m) => {
    const p = m && m.id !== undefined && pending.get(m.id);
    if (p) {
      pending.delete(m.id);
      p(m);
    }
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
    child.on('message', (m) => {
      if (!m || !m.ready) return;
      resolve({
        child,
        pid: child.pid,
        port: m.port,
        send: (msg) => child.send(msg),
        call(msg) {
          const id = nextId++;
          return new Promise((res) => {
            pending.set(id, res);
            child.send({ ...msg, id });
          });
        },
        stop: () => stopChild(child, 2000),
      });
    });
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * The control plane exactly as `npm start` runs it (node dist/control-plane/src/main.js), logs to a
 * file (JSON lines on stdout), resolving with its URL once the start banner names it.
 */
function startPlatform(env, logFile, timeoutMs = 60_000) {
  const out = fs.openSync(logFile, 'a');
  const child = track(
    // BENCH_CPU_PROF=dir: a V8 CPU profile per platform process, written when it exits (bench/profile-summary.js reads them).
    // BENCH_NODE_ARGS: more node flags for the platform processes (e.g. `--require ./probe.js`).
    spawn(process.execPath, [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : []), ...(process.env.BENCH_NODE_ARGS || '').split(' ').filter(Boolean), MAIN_JS], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH || '',
        // bench/sql-probe.js's settings, for a probe loaded with BENCH_NODE_ARGS.
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SQL_PROBE_') || k.startsWith('THREAD_PROBE_'))),
        HOME: process.env.HOME || '/tmp',
        PORT: '0',
        HOST: '127.0.0.1',
        ...env,
      },
      stdio: ['ignore', out, 'pipe'],
    }),
  );
  fs.closeSync(out);
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the platform did not start within ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the platform exited with ${code}: ${err}\n${tail(logFile)}`));
    });
    child.stderr.on('data', (d) => {
      if (err.length < 20_000) err += d;
      const m = /running at (http:\/\/\S+)/.exec(err);
      if (m && timer) {
        clearTimeout(timer);
        resolve({ child, pid: child.pid, url: m[1], stop: () => stopChild(child) });
      }
    });
  });
}

function tail(file, n = 20) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** Resident set size of a process in bytes (0 once it is gone). */
function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const CLK_TCK = Number(sh('getconf', ['CLK_TCK']).out.trim()) || 100;

/** CPU time (user + system, all threads) a process has used so far, in seconds. */
function cpuSecondsOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/**
 * Samples the summed RSS of some processes every 200 ms (`peak` is the highest sum seen) and the
 * CPU time they use meanwhile: CPU per message stays comparable when other work shares the machine,
 * where throughput and latency do not.
 */
class RssSampler {
  constructor(pids) {
    this.pids = pids;
    this.peak = 0;
    this.cpu0 = pids.reduce((s, pid) => s + cpuSecondsOf(pid), 0);
    this.cpuSeconds = 0;
    this.timer = setInterval(() => this.sample(), 200);
    this.sample();
  }
  sample() {
    const sum = this.pids.reduce((s, pid) => s + rssOf(pid), 0);
    if (sum > this.peak) this.peak = sum;
    this.cpuSeconds = this.pids.reduce((s, pid) => s + cpuSecondsOf(pid), 0) - this.cpu0;
  }
  stop() {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return { code: r.status ?? -1, out: (r.stdout || '') + (r.stderr || ''), error: r.error };
}

module.exports = { ROOT, MAIN_JS, sleep, track, stopChild, forkHelper, freePort, startPlatform, rssOf, RssSampler, sh, tail, killAll };
