'use strict';
/**
 * Load generators, both in the benchmark's own process (separate from every server measured):
 * - closedLoop: autocannon with N connections, each sending its next request when the previous
 *   one is answered (the throughput ceiling at that concurrency). Latencies are taken from
 *   autocannon's per-response hook, with sub-millisecond precision.
 * - paced: an open-loop generator for the end-to-end runs, issuing requests at a steady rate
 *   whatever the latency (a slow server meets a queue, as it would in production), over
 *   kept-alive node:http connections, each request for a unique destination so every message
 *   can be followed to its callbacks.
 */
const autocannon = require('autocannon');
const http = require('node:http');
const { percentile } = require('./stats');

const now = () => performance.timeOrigin + performance.now();

function closedLoopOne({ url, method = 'POST', headers = {}, body, connections, durationS }) {
  return new Promise((resolve, reject) => {
    const latencies = [];
    let ok = 0;
    let non2xx = 0;
    const started = performance.now();
    const instance = autocannon({ url, method, headers, body, connections, pipelining: 1, duration: durationS, timeout: 30 }, (err, result) => {
      if (err) return reject(err);
      const seconds = (performance.now() - started) / 1000;
      resolve({ ok, non2xx, errors: result.errors + result.timeouts, seconds, latencies, sample: result.non2xx ? firstBody : undefined });
    });
    let firstBody;
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) {
        ok++;
        latencies.push(responseTime);
      } else non2xx++;
    });
    instance.on('reqError', (e) => {
      if (!firstBody) firstBody = String(e && e.message);
    });
  });
}

/** Several targets at once (two instances behind no balancer): connections split evenly, results merged. */
async function closedLoop({ targets, connections, durationS }) {
  const per = Math.max(1, Math.round(connections / targets.length));
  const runs = await Promise.all(targets.map((t) => closedLoopOne({ ...t, connections: per, durationS })));
  const latencies = runs.flatMap((r) => r.latencies);
  const seconds = Math.max(...runs.map((r) => r.seconds));
  const ok = runs.reduce((s, r) => s + r.ok, 0);
  return {
    ok,
    non2xx: runs.reduce((s, r) => s + r.non2xx, 0),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    rps: ok / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

/**
 * Open loop at `rate` requests/s for `durationS`, round-robin over `targets`; each target is
 * { host, port, request(dest) → { method, path, headers, body } }. Resolves with per-request data.
 * `tick(elapsedS, counts)` is called every second (backlog sampling).
 */
function paced({ targets, rate, durationS, connections, destination, tick, maxOutstanding = 20_000 }) {
  const agents = targets.map(() => new http.Agent({ keepAlive: true, maxSockets: Math.max(1, Math.round(connections / targets.length)) }));
  const sentAt = new Map();
  const latencies = [];
  const counts = { issued: 0, ok: 0, failed: 0, shed: 0, outstanding: 0 };
  const failures = [];
  let seq = 0;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const issue = () => {
      const dest = destination(seq);
      const target = targets[seq % targets.length];
      const agent = agents[seq % targets.length];
      seq++;
      const spec = target.request(dest);
      const start = now();
      counts.issued++;
      counts.outstanding++;
      const req = http.request({ host: target.host, port: target.port, method: spec.method, path: spec.path, headers: spec.headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          counts.outstanding--;
          const ms = now() - start;
          if (res.statusCode >= 200 && res.statusCode < 300) {
            counts.ok++;
            latencies.push(ms);
            sentAt.set(dest, start);
          } else {
            counts.failed++;
            if (failures.length < 5) failures.push(`HTTP ${res.statusCode}`);
          }
          maybeDone();
        });
      });
      req.on('error', (e) => {
        counts.outstanding--;
        counts.failed++;
        if (failures.length < 5) failures.push(e.message);
        maybeDone();
      });
      req.end(spec.body);
    };
    let stopped = false;
    const total = Math.round(rate * durationS);
    const timer = setInterval(() => {
      const elapsed = (performance.now() - t0) / 1000;
      const due = Math.min(total, Math.floor(elapsed * rate)) - (counts.issued + counts.shed);
      for (let i = 0; i < due; i++) {
        if (counts.outstanding >= maxOutstanding) counts.shed++;
        else issue();
      }
      if (counts.issued + counts.shed >= total) {
        clearInterval(timer);
        stopped = true;
        maybeDone();
      }
    }, 2);
    let lastTick = 0;
    const ticker = setInterval(() => {
      lastTick++;
      if (tick) tick(lastTick, counts);
    }, 1000);
    const maybeDone = () => {
      if (!stopped || counts.outstanding > 0) return;
      stopped = false;
      clearInterval(ticker);
      for (const a of agents) a.destroy();
      const seconds = (performance.now() - t0) / 1000;
      resolve({ counts, seconds, sentAt, latencies, failures, p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
    };
  });
}

module.exports = { closedLoop, paced, now };
