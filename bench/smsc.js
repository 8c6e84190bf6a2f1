'use strict';
/**
 * The benchmark's SMSC: an SMPP 3.4 server on loopback (npm `smpp`) that answers every submit_sm
 * with a message id and then sends a delivery receipt (text `id:… stat:DELIVRD` plus the TLVs
 * receipted_message_id and message_state, so any ESME can match it). Receipts answered with an
 * error status are sent again. Both our SMPP connector and Kannel's bind to the same one.
 *
 * Runs as a child process (fork) driven over IPC so its CPU and event loop are its own:
 *   → { cmd: 'record', on }   record per-destination times from now on (clears earlier records)
 *   → { cmd: 'stats' }        ← { counts }
 *   → { cmd: 'dump' }         ← { submits: [[dest, ms]], receipts: [[dest, ms]] } (first of each)
 * Times are wall-clock milliseconds with sub-millisecond precision (performance.timeOrigin +
 * performance.now()), comparable across the processes of one machine.
 */
const smpp = require('smpp');

const { keepShortMessageBytes, coalesceWrites } = require('./lib/smpp-lean');

// The SMSC never reads a submit_sm's text.
keepShortMessageBytes('submit_sm');

const now = () => performance.timeOrigin + performance.now();

function startSmsc({ host = '127.0.0.1', port = 0, systemId = 'bench', password = 'bench', receiptDelayMs = 0 } = {}) {
  const counts = { binds: 0, submits: 0, receiptsSent: 0, receiptsAcked: 0, receiptsNacked: 0, sessions: 0 };
  let recording = false;
  let submitAt = new Map();
  let receiptAt = new Map();
  let nextId = 1;
  const bound = new Set();
  const waiting = [];

  const smscDate = () => new Date().toISOString().replace(/\D/g, '').slice(2, 12);

  function deliver(r, attempt) {
    const session = bound.has(r.session) ? r.session : bound.values().next().value;
    if (!session) return void waiting.push(r);
    if (recording && attempt === 1 && !receiptAt.has(r.dest)) receiptAt.set(r.dest, now());
    counts.receiptsSent++;
    session.deliver_sm(r.params, (resp) => {
      if (resp.command_status === 0) counts.receiptsAcked++;
      else {
        counts.receiptsNacked++;
        if (attempt < 10) setTimeout(() => deliver(r, attempt + 1), 100);
      }
    });
  }

  const server = smpp.createServer((session) => {
    counts.sessions++;
    coalesceWrites(session);
    session.on('error', () => session.destroy());
    session.on('close', () => bound.delete(session));
    const bind = (pdu) => {
      const ok = pdu.system_id === systemId && pdu.password === password;
      session.send(pdu.response({ command_status: ok ? 0 : 0x0e, system_id: 'BENCHSMSC' }));
      if (!ok) return;
      counts.binds++;
      bound.add(session);
      for (const r of waiting.splice(0)) deliver(r, 1);
    };
    session.on('bind_transceiver', bind);
    session.on('bind_transmitter', bind);
    session.on('bind_receiver', bind);
    session.on('enquire_link', (pdu) => session.send(pdu.response()));
    session.on('unbind', (pdu) => {
      bound.delete(session);
      session.send(pdu.response(), () => session.close());
    });
    session.on('submit_sm', (pdu) => {
      if (!bound.has(session)) return void session.send(pdu.response({ command_status: 0x04 }));
      counts.submits++;
      const dest = pdu.destination_addr;
      if (recording && !submitAt.has(dest)) submitAt.set(dest, now());
      const id = (nextId++).toString(16).toUpperCase().padStart(10, '0');
      session.send(pdu.response({ message_id: id }));
      if (!(pdu.registered_delivery & 0x01)) return;
      const d = smscDate();
      const text = `id:${id} sub:001 dlvrd:001 submit date:${d} done date:${d} stat:DELIVRD err:000 text:`;
      const params = {
        source_addr_ton: pdu.dest_addr_ton,
        source_addr_npi: pdu.dest_addr_npi,
        source_addr: dest,
        dest_addr_ton: pdu.source_addr_ton,
        dest_addr_npi: pdu.source_addr_npi,
        destination_addr: pdu.source_addr,
        esm_class: 0x04,
        data_coding: 0,
        short_message: Buffer.from(text, 'ascii'),
        receipted_message_id: id,
        message_state: 2,
      };
      const r = { session, dest, params };
      if (receiptDelayMs > 0) setTimeout(() => deliver(r, 1), receiptDelayMs);
      else setImmediate(() => deliver(r, 1));
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () =>
      resolve({
        port: server.address().port,
        counts,
        record(on) {
          recording = on;
          submitAt = new Map();
          receiptAt = new Map();
        },
        dump: () => ({ submits: [...submitAt], receipts: [...receiptAt] }),
      }),
    );
  });
}

module.exports = { startSmsc };

if (require.main === module) {
  const opts = JSON.parse(process.argv[2] || '{}');
  startSmsc(opts).then((smsc) => {
    process.on('message', (m) => {
      if (m.cmd === 'record') smsc.record(m.on);
      else if (m.cmd === 'stats') process.send({ id: m.id, counts: { ...smsc.counts } });
      else if (m.cmd === 'dump') process.send({ id: m.id, ...smsc.dump() });
    });
    process.on('disconnect', () => process.exit(0));
    if (process.send) process.send({ ready: true, port: smsc.port });
    else console.log(`bench SMSC listening on 127.0.0.1:${smsc.port}`);
  });
}
