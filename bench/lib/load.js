'use strict';
/**
 * The closed-loop load generator, in the benchmark's own process (separate from every server
 * measured): autocannon with N connections, each sending its next request when the previous one is
 * answered (the throughput ceiling at that concurrency). Latencies are taken from autocannon's
 * per-response hook, with sub-millisecond precision. The open-loop end-to-end generator is the
 * rig's (bench/rig/load.c, driven by lib/rig.js).
 */
const autocannon = require('autocannon');
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

module.exports = { closedLoop, now };
