'use strict';
/**
 * The SMPP connector's own CPU per message, away from the rest of the platform: one SmppCarrier
 * (in process, no thread) bound to the rig's SMSC (bench/rig, a separate process in C), `total`
 * messages with `inFlight` submits outstanding, every receipt recorded at once. Per message that
 * is a submit_sm written, its submit_sm_resp read, a deliver_sm read and its deliver_sm_resp
 * written, with the connector's window, timers and receipt ordering. Prints this process's CPU
 * (user + system) per message over the measured rounds, after a warm-up round.
 *
 *   npm run build && node bench/connector.js [total=50000] [rounds=5] [--json]
 *
 * `npm run bench` runs it (the Components table of docs/BENCHMARKS.md).
 */
const path = require('node:path');
const { startRig } = require('./lib/rig');
const { args, measureRounds, run } = require('./lib/cpu-rounds');
const { SmppCarrier } = require(path.join(__dirname, '../dist/control-plane/src/connectors/smpp-connector.js'));

const opts = args({ total: 50_000, rounds: 5 });
const { total } = opts;
const inFlight = 2_000;

async function round(carrier, receipts, prefix) {
  let next = 0;
  let done = 0;
  const expected = receipts.count + total;
  await new Promise((resolve, reject) => {
    const one = () => {
      if (next >= total) return;
      const i = next++;
      carrier
        .submit({ messageId: `m${prefix}${i}`, source: '+15550001111', destination: `+1${prefix}${String(i).padStart(8, '0')}`, content: 'Benchmark message' })
        .then(() => {
          done++;
          one();
        }, reject);
    };
    for (let k = 0; k < inFlight; k++) one();
    const deadline = Date.now() + 60_000;
    const check = setInterval(() => {
      if (done === total && receipts.count >= expected) {
        clearInterval(check);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(check);
        reject(new Error(`round ${prefix}: ${done} of ${total} submits answered and ${receipts.count - expected + total} receipts after 60 s`));
      }
    }, 2);
  });
}

async function main() {
  const smsc = await startRig('smsc', { systemId: 'bench', password: 'bench' });
  const carrier = new SmppCarrier({ host: '127.0.0.1', port: smsc.port, systemId: 'bench', password: 'bench', windowSize: 512, maxSubmitsPerSecond: 1e9 });
  const receipts = { count: 0 };
  carrier.onReceipt(async () => {
    receipts.count++;
  });
  await carrier.start();
  try {
    await measureRounds(opts, 'message', 'connector', (label) => round(carrier, receipts, label));
  } finally {
    await carrier.stop();
    await smsc.stop();
  }
}

run(main);
