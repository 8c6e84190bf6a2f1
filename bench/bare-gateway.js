'use strict';
/**
 * The stack's own end-to-end ceiling: the parts our platform's send path is built from (node:http,
 * the npm `smpp` client, undici on a thread of its own) doing the end-to-end work with nothing kept
 * anywhere but memory. It answers `POST /outbound_messages` with a 201 as soon as the JSON:API body
 * is read, sends a submit_sm, POSTs a signed status callback when the submit_sm_resp comes and a
 * signed DLR callback when the receipt comes. No authentication, no database, no retries, no
 * durability: what is lost in a crash is lost. The end-to-end rows print our rate as a ratio of
 * this one, as the submit rows do with bare Express.
 *
 * With `durable` (a SQLite file) it is the same gateway with the least a durable one must write:
 * one row per message in one table, inserted before the 201 and updated when the submit is
 * answered, when the receipt comes and when each callback is delivered, every write group-committed
 * with an fsync before what depends on it goes out (see lib/lean-store.js). No authentication, no
 * retries or recovery, no history: it prices durability alone, with the same parts.
 *
 * Child process over IPC, like the SMSC and the receiver: started with { smscPort, receiverPort,
 * secret, systemId, password, callbackConnections (16), durable }, it answers { ready, port } once
 * bound to the SMSC, and { cmd: 'stats' } with its counts (accepted, submitted, receipts, callbacks
 * posted, delivered and failed, commit rounds) and, when durable, what its table holds (`stored`)
 * once every callback posted has been answered and recorded.
 */
const crypto = require('node:crypto');
const http = require('node:http');
const smpp = require('smpp');
const { Pool } = require('undici');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const { keepShortMessageBytes, coalesceWrites } = require('./lib/smpp-lean');
const { LeanStore } = require('./lib/lean-store');

if (!isMainThread) {
  // The callback thread: one undici pool to the receiver, as many connections as the platform keeps per endpoint.
  const pool = new Pool(`http://127.0.0.1:${workerData.receiverPort}`, { connections: workerData.connections, pipelining: 1 });
  let ok = 0;
  let failed = 0;
  /** With `durable`: [message id, kind] of each callback delivered, for the store to record. */
  let delivered = [];
  let reporting = false;
  const report = () => {
    if (reporting) return;
    reporting = true;
    setImmediate(() => {
      reporting = false;
      parentPort.postMessage({ ok, failed, delivered });
      ok = failed = 0;
      delivered = [];
    });
  };
  parentPort.on('message', (batch) => {
    for (const [eventId, ts, signature, body, messageId, kind] of batch) {
      pool
        .request({
          method: 'POST',
          path: '/callbacks',
          headers: { 'content-type': 'application/vnd.api+json', 'webhook-id': eventId, 'webhook-timestamp': ts, 'webhook-signature': signature },
          body,
        })
        .then(
          (res) => {
            ok++;
            if (workerData.durable) delivered.push([messageId, kind]);
            report();
            return res.body.dump();
          },
          () => {
            failed++;
            report();
          },
        );
    }
  });
  return;
}

const opts = JSON.parse(process.argv[2] || '{}');

// As lean with the library as the platform's connector is: a receipt's short_message stays bytes,
// and a submit_sm's text is handed over as bytes already encoded.
keepShortMessageBytes('deliver_sm');
const key = Buffer.from(String(opts.secret || 'whsec_').slice('whsec_'.length), 'base64');

// Callbacks are POSTed from a worker thread, as the platform does it: undici's pool on an event
// loop that also reads a few thousand submits a second hears back from the receiver late (in a
// trial here, about 150 callbacks a second got through while 3,000 submits a second came in, and
// 14,000 a second once they stopped). What one turn of the loop produced goes over in one message.
const counts = { accepted: 0, submitted: 0, receipts: 0, posted: 0, callbacks: 0, callbackErrors: 0, rounds: 0 };
const store = opts.durable ? new LeanStore(opts.durable, counts) : undefined;
const poster = new Worker(__filename, { workerData: { receiverPort: opts.receiverPort, connections: opts.callbackConnections || 16, durable: !!store } });
poster.on('message', (m) => {
  counts.callbacks += m.ok;
  counts.callbackErrors += m.failed;
  for (const [id, kind] of m.delivered) store.write(kind === 'dlr' ? 'dlrDone' : 'statusDone', [id, new Date().toISOString()]);
});
poster.on('error', (err) => {
  console.error(`bare gateway: callback thread ${err.message}`);
  process.exit(1);
});
let outgoing = [];
function post(type, id, destination, attributes) {
  const kind = type === 'dlr_event' ? 'dlr' : 'status';
  counts.posted++;
  const eventId = crypto.randomUUID();
  const body = JSON.stringify({
    data: { type, id, attributes: { destination, ...attributes } },
    meta: { event_id: eventId, message_id: id, occurred_at: new Date().toISOString() },
  });
  const ts = String(Math.floor(Date.now() / 1000));
  const signature = 'v1,' + crypto.createHmac('sha256', key).update(`${eventId}.${ts}.${body}`).digest('base64');
  if (outgoing.push([eventId, ts, signature, body, id, kind]) === 1) {
    setImmediate(() => {
      poster.postMessage(outgoing);
      outgoing = [];
    });
  }
}

// SMPP: one transceiver bind; what is written in one turn of the event loop leaves in one write,
// as the platform's connector does it.
const session = smpp.connect({ url: `smpp://127.0.0.1:${opts.smscPort}`, auto_enquire_link_period: 30_000 });
coalesceWrites(session);
/** SMSC message id → our message, until its receipt comes. */
const bySmscId = new Map();
session.on('deliver_sm', (pdu) => {
  session.send(pdu.response());
  const smscId = pdu.receipted_message_id;
  const m = smscId && bySmscId.get(smscId);
  if (!m) return;
  bySmscId.delete(smscId);
  counts.receipts++;
  const dlr = () => post('dlr_event', m.id, m.destination, { status: 'delivered' });
  if (store) store.write('final', [smscId, 'DELIVERED', new Date().toISOString()], dlr);
  else dlr();
});
session.on('error', (err) => {
  console.error(`bare gateway: SMPP ${err.message}`);
  process.exit(1);
});

// The endpoint straight off node:http, as ours serves its send API (Express routes the rest of ours).
const created = (res, id) => {
  const body = JSON.stringify({ data: { id, type: 'outbound_messages', attributes: { encoding: 'gsm7', segments: 1 } } });
  res.writeHead(201, { 'content-type': 'application/vnd.api+json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
const refuse = (res, status, detail) => {
  const body = JSON.stringify({ errors: [{ status: String(status), title: detail, source: { pointer: '/data/attributes' } }] });
  res.writeHead(status, { 'content-type': 'application/vnd.api+json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
function accept(res, raw) {
  let a;
  try {
    const doc = JSON.parse(raw);
    a = doc && doc.data && doc.data.attributes;
  } catch {
    return refuse(res, 400, 'Not JSON');
  }
  if (!a || typeof a.destination !== 'string' || typeof a.source !== 'string' || typeof a.content !== 'string') return refuse(res, 422, 'Invalid');
  const id = crypto.randomUUID();
  const m = { id, destination: a.destination };
  if (store) store.write('accepted', [id, a.destination, a.source, a.content, new Date().toISOString()], () => send(res, m, a));
  else send(res, m, a);
}
function send(res, m, a) {
  const { id } = m;
  counts.accepted++;
  created(res, id);
  session.submit_sm({ source_addr: a.source, destination_addr: a.destination, data_coding: 0, short_message: Buffer.from(a.content, 'latin1'), registered_delivery: 1 }, (resp) => {
    // The bench SMSC accepts every submit; a refusal is reported but, in durable mode, not recorded.
    if (resp.command_status !== 0) return void post('outbound_message_callbacks', id, m.destination, { status: 'failed' });
    counts.submitted++;
    // Mapped before the write commits: the receipt's own write is queued after this one, so it finds the row.
    bySmscId.set(resp.message_id, m);
    const status = () => post('outbound_message_callbacks', id, m.destination, { status: 'sent' });
    if (store) store.write('submitted', [id, resp.message_id, new Date().toISOString()], status);
    else status();
  });
}
const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/outbound_messages') return refuse(res, 404, 'Not found');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => accept(res, chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')));
});
server.keepAliveTimeout = 65_000;

const bind = () => session.bind_transceiver({ system_id: opts.systemId || 'bench', password: opts.password || 'bench' }, (pdu) => {
  if (pdu.command_status !== 0) {
    console.error(`bare gateway: bind refused (${pdu.command_status})`);
    process.exit(1);
  }
  server.listen(0, '127.0.0.1', () => {
    const port = server.address().port;
    if (process.send) process.send({ ready: true, port });
    else console.log(`bare gateway on http://127.0.0.1:${port}/outbound_messages`);
  });
});
if (store) {
  store.open().then(bind, (err) => {
    console.error(`bare gateway: ${err.message}`);
    process.exit(1);
  });
} else bind();
process.on('message', (m) => {
  if (m && m.cmd === 'stats') {
    if (!store) return void process.send({ id: m.id, counts: { ...counts } });
    settled().then(() => store.summary()).then((stored) => process.send({ id: m.id, counts: { ...counts }, stored }));
  }
});
process.on('disconnect', () => process.exit(0));

/** Resolves once every callback posted has been answered and every write is committed (or after 5 s). */
async function settled() {
  for (let waited = 0; waited < 5000; waited += 20) {
    if (counts.callbacks + counts.callbackErrors === counts.posted && store.idle) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
