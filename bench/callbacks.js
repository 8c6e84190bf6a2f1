'use strict';
/**
 * The callback client's own CPU per POST, away from the rest of the platform: the HttpPoster the
 * callback thread runs (undici pool, SSRF guard, timeout, Standard Webhooks signature), posting to
 * the rig's receiver (bench/rig, a separate process in C) with `perEndpoint` connections, closed
 * loop, `total` posts a round. Prints this process's CPU (user + system) per POST over the
 * measured rounds, after a warm-up round.
 *
 *   npm run build && node bench/callbacks.js [total=30000] [rounds=5] [--json]
 *
 * `npm run bench` runs it (the Components table of docs/BENCHMARKS.md).
 */
const path = require('node:path');
const { startRig } = require('./lib/rig');
const { args, measureRounds, run } = require('./lib/cpu-rounds');
const { HttpPoster } = require(path.join(__dirname, '../dist/control-plane/src/callbacks/callback-http.js'));

const opts = args({ total: 30_000, rounds: 5 });
const { total } = opts;
const perEndpoint = 64;
const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

/** A DLR callback about the size the platform sends. */
const body = (dest) =>
  JSON.stringify({
    data: {
      type: 'dlr_events',
      id: '1f0b5e1c-7a4e-4c57-9d0e-2b8f0a6f4c1d',
      attributes: { status: 'delivered', time_start: '2026-12-04T03:50:52.123Z', end_time: '2026-12-04T03:50:52.456Z', destination: dest, source: '15550001111', fragments_sent: 1, code_id: null },
      relationships: { outbound_message: { data: { type: 'outbound_messages', id: '7c9e6679-7425-40de-944b-e07fc1f90ae7' } } },
    },
  });

async function round(poster, url, prefix) {
  let next = 0;
  let done = 0;
  await new Promise((resolve, reject) => {
    const one = () => {
      if (next >= total) return;
      const i = next++;
      const dest = `1${prefix}${String(i).padStart(8, '0')}`;
      poster.post(url, body(dest), {}, Infinity, { id: `msg_${prefix}_${i}`, secrets: [secret] }).then((r) => {
        // The rig's receiver answers 204; anything else (an error, a refusal) fails the run.
        if (r.statusCode !== 200 && r.statusCode !== 204) return reject(new Error(`post failed: ${JSON.stringify(r)}`));
        if (++done === total) resolve();
        else one();
      });
    };
    for (let k = 0; k < perEndpoint * 2; k++) one();
    setTimeout(() => reject(new Error(`round ${prefix}: ${done} of ${total} posts answered after 60 s`)), 60_000).unref();
  });
}

async function main() {
  const rx = await startRig('receiver');
  const poster = new HttpPoster({ allowCidrs: ['127.0.0.0/8'], perEndpoint, timeoutMs: 10_000 });
  const url = `http://127.0.0.1:${rx.port}/callbacks`;
  try {
    await measureRounds(opts, 'POST', 'callback client', (label) => round(poster, url, label));
  } finally {
    poster.close();
    await rx.stop();
  }
}

run(main);
