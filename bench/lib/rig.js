'use strict';
/**
 * The rig's native half (bench/rig/*.c): built here with the machine's C compiler, then driven as
 * child processes over stdin/stdout lines. See bench/rig/README.md for why it is in C.
 *
 * - startRig('receiver' | 'smsc', options) → { pid, port, record(prefix), secret(s, every), call('stats' | 'dump'), stop() }
 * - paced({ targets, rate, durationS, connections, prefix, tick }) → the open-loop generator's result
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { spawn, spawnSync } = require('node:child_process');
const { track, stopChild } = require('./procs');
const { percentile } = require('./stats');

const SRC = path.join(__dirname, '..', 'rig');
/** Destinations are the run's prefix and this many digits (the index of the request). */
const DEST_DIGITS = 8;

let built;
/**
 * Compiles the rig once per set of sources (cached under the OS's temp directory by their hash);
 * returns the binary's path, or throws with the compiler's message.
 */
function buildRig() {
  if (built) return built;
  const files = fs.readdirSync(SRC).filter((f) => /\.[ch]$/.test(f)).sort();
  const hash = crypto.createHash('sha256');
  for (const f of files) hash.update(f).update('\0').update(fs.readFileSync(path.join(SRC, f)));
  const dir = path.join(os.tmpdir(), 'sms-out-bench-rig');
  const bin = path.join(dir, `rig-${hash.digest('hex').slice(0, 16)}`);
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(dir, { recursive: true });
    const cc = process.env.CC || 'cc';
    const tmp = `${bin}.${process.pid}.tmp`;
    const r = spawnSync(cc, ['-O2', '-std=gnu11', '-Wall', '-o', tmp, ...files.filter((f) => f.endsWith('.c')).map((f) => path.join(SRC, f))], { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new Error(`building the bench rig with ${cc} failed (a C compiler is needed: apt-get install gcc): ${r.error ? r.error.message : r.stderr}`);
    fs.renameSync(tmp, bin);
  }
  built = bin;
  return bin;
}

/** A rig process speaking JSON lines; `lines` gets every line that is not an answer to call(). */
function spawnRig(mode, options, onLine) {
  const child = track(spawn(buildRig(), [mode, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  // The rig exits when its stdin closes: a benchmark that dies takes its rig with it.
  child.stdin.on('error', () => {});
  const rl = readline.createInterface({ input: child.stdout, crlfDelay: Infinity });
  rl.on('line', (line) => {
    let m;
    try {
      m = JSON.parse(line);
    } catch {
      return;
    }
    onLine(m);
  });
  return child;
}

/** The receiver or the SMSC, with the interface bench/run.js uses. */
function startRig(mode, options = {}) {
  let nextId = 1;
  const pending = new Map();
  return new Promise((resolve, reject) => {
    let ready = false;
    const child = spawnRig(mode, options, (m) => {
      if (m.ready && !ready) {
        ready = true;
        return resolve(helper(m.port));
      }
      const p = m.id !== undefined && pending.get(m.id);
      if (p) {
        pending.delete(m.id);
        p(m);
      }
    });
    child.once('exit', (code) => {
      if (!ready) reject(new Error(`rig ${mode} exited with ${code} before it was ready`));
      for (const p of pending.values()) p({ error: `rig ${mode} exited with ${code}` });
      pending.clear();
    });
    const line = (s) => child.stdin.write(`${s}\n`);
    const helper = (port) => ({
      child,
      pid: child.pid,
      port,
      /** From now on only destinations of `prefix` count (the others are stale); clears the records. */
      record: (prefix) => line(`record ${prefix || '-'} ${DEST_DIGITS}`),
      /** The receiver: verify every `every`-th callback's signature with `secret` (none when undefined). */
      secret: (secret, every) => line(`secret ${secret || '-'} ${every || 0}`),
      call(cmd) {
        const id = nextId++;
        return new Promise((res) => {
          pending.set(id, res);
          line(`${cmd} ${id}`);
        });
      },
      stop: () => stopChild(child, 2000),
    });
  });
}

/**
 * A request as the target describes it, as the bytes to write: request line, Host, keep-alive,
 * the target's headers, Content-Length when the target gave a body without one, then the body.
 */
function requestBytes(target, dest) {
  const spec = target.request(dest);
  let head = `${spec.method} ${spec.path} HTTP/1.1\r\n`;
  let host = false;
  let length = false;
  for (const name in spec.headers) {
    const lower = name.toLowerCase();
    if (lower === 'host') host = true;
    else if (lower === 'content-length') length = true;
    else if (lower === 'connection') continue;
    head += `${name}: ${spec.headers[name]}\r\n`;
  }
  if (!host) head += `Host: ${target.host}:${target.port}\r\n`;
  const body = spec.body;
  const hasBody = body !== undefined && body !== null && body.length > 0;
  if (hasBody && !length) head += `Content-Length: ${typeof body === 'string' ? Buffer.byteLength(body) : body.length}\r\n`;
  head += 'Connection: keep-alive\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), hasBody ? (typeof body === 'string' ? Buffer.from(body) : body) : Buffer.alloc(0)]);
}

/**
 * Open loop at `rate` requests/s for `durationS` over `connections` (split over the targets; each
 * target is { host, port, request(dest) → { method, path, headers, body } }), from the rig's
 * generator (bench/rig/load.c). The destination of request i is `prefix` + i zero-padded.
 * `tick(s, { issued })` is called every second. Resolves with counts, seconds, t0 (when the first
 * second began, epoch ms), sentAt (destination → when issued, for the 2xx ones), latencies, failures, p50, p99.
 */
function paced({ targets, rate, durationS, connections, prefix, tick, maxOutstanding = 20_000 }) {
  const marker = prefix + 'Z'.repeat(DEST_DIGITS);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-load-'));
  const files = targets.map((t, i) => {
    const bytes = requestBytes(t, marker);
    // The destination must survive into the bytes as it is (same length), or Content-Length would be wrong.
    if (!bytes.includes(marker)) throw new Error(`the request for ${t.host}:${t.port} does not carry its destination verbatim`);
    const file = path.join(dir, `request-${i}.http`);
    fs.writeFileSync(file, bytes);
    return file;
  });
  const options = {
    targets: targets.map((t) => `${t.host}:${t.port}`).join(','),
    templates: files.join(','),
    prefix,
    width: DEST_DIGITS,
    rate,
    durationS,
    connections,
    maxOutstanding,
    drainS: 120,
  };
  return new Promise((resolve, reject) => {
    let done;
    let t0;
    const child = spawnRig('load', options, (m) => {
      if (m.ready) t0 = m.t0;
      if (m.tick !== undefined && tick) tick(m.tick, { issued: m.issued, ok: m.ok });
      if (m.done) done = m;
    });
    child.once('exit', (code) => {
      fs.rmSync(dir, { recursive: true, force: true });
      if (!done) return reject(new Error(`the load generator exited with ${code} before it finished`));
      const sentAt = new Map();
      const latencies = new Array(done.sent.length);
      done.sent.forEach(([i, start, latency], k) => {
        sentAt.set(prefix + String(i).padStart(DEST_DIGITS, '0'), start);
        latencies[k] = latency;
      });
      resolve({
        counts: { issued: done.issued, ok: done.ok, failed: done.failed, shed: done.shed, outstanding: 0 },
        seconds: done.seconds,
        t0,
        cpuSeconds: done.cpuSeconds,
        sentAt,
        latencies,
        failures: done.failures,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
      });
    });
  });
}

module.exports = { buildRig, startRig, paced, requestBytes, DEST_DIGITS };
