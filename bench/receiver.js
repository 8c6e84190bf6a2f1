'use strict';
/**
 * The benchmark's callback receiver: a node:http server on loopback that answers 200 at once and
 * records, per destination, when the first status callback and the first final DLR arrived.
 *
 * - Our platform POSTs JSON:API callbacks (`outbound_message_callbacks`, `dlr_event`) signed with
 *   Standard Webhooks headers; every `verifyEvery`-th one is verified (all of them when 1).
 * - Kannel GETs its dlr-url: `?kind=kannel&to=%p&type=%d` (type 8 = SMSC accepted, 1 = delivered).
 *
 * Child process over IPC, like smsc.js: { cmd: 'record' | 'stats' | 'dump' | 'secret' }.
 */
const crypto = require('node:crypto');
const http = require('node:http');

const now = () => performance.timeOrigin + performance.now();

function startReceiver({ host = '127.0.0.1', port = 0 } = {}) {
  const counts = { requests: 0, status: 0, dlr: 0, duplicates: 0, stale: 0, other: 0, verified: 0, badSignatures: 0 };
  let recording = false;
  let prefix = '';
  let statusAt = new Map();
  let dlrAt = new Map();
  let seenEvents = new Set();
  let secret;
  let verifyEvery = 0;
  const problems = [];

  const verify = (headers, body) => {
    const id = headers['webhook-id'];
    const ts = headers['webhook-timestamp'];
    const sigs = String(headers['webhook-signature'] || '').split(' ');
    const expected = 'v1,' + crypto.createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${id}.${ts}.${body}`).digest('base64');
    return sigs.includes(expected);
  };

  const record = (kind, dest, eventId) => {
    // Late callbacks of an earlier run (another destination prefix) must not count in this one.
    if (typeof dest !== 'string' || !dest.startsWith(prefix)) return void counts.stale++;
    if (eventId !== undefined) {
      if (seenEvents.has(eventId)) {
        counts.duplicates++;
        return;
      }
      seenEvents.add(eventId);
    }
    const map = kind === 'status' ? statusAt : dlrAt;
    if (map.has(dest)) counts.duplicates++;
    else {
      counts[kind]++;
      if (recording) map.set(dest, now());
      else map.set(dest, 0);
    }
  };

  const server = http.createServer((req, res) => {
    counts.requests++;
    if (req.method === 'GET') {
      // Kannel: /kannel?to=%p&type=%d
      const q = new URLSearchParams(req.url.slice(req.url.indexOf('?') + 1));
      const type = Number(q.get('type'));
      const dest = (q.get('to') || '').replace(/^\+/, '');
      if (type === 8) record('status', dest);
      else if (type === 1 || type === 2) record('dlr', dest);
      else counts.other++;
      res.writeHead(200, { 'content-length': '0' });
      return void res.end();
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let doc;
      try {
        doc = JSON.parse(body);
      } catch {
        counts.other++;
        res.writeHead(400);
        return void res.end();
      }
      if (secret && verifyEvery > 0 && counts.requests % verifyEvery === 0) {
        if (verify(req.headers, body)) counts.verified++;
        else {
          counts.badSignatures++;
          if (problems.length < 5) problems.push(`bad signature on ${req.headers['webhook-id']}`);
        }
      }
      const type = doc && doc.data && doc.data.type;
      const dest = doc && doc.data && doc.data.attributes && doc.data.attributes.destination;
      const eventId = doc && doc.meta && doc.meta.event_id;
      if (type === 'outbound_message_callbacks') record('status', dest, eventId);
      else if (type === 'dlr_event') record('dlr', dest, eventId);
      else counts.other++;
      res.writeHead(204);
      res.end();
    });
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;

  return new Promise((resolve) =>
    server.listen(port, host, () =>
      resolve({
        port: server.address().port,
        counts,
        problems,
        setSecret(s, every) {
          secret = s;
          verifyEvery = every;
        },
        record(on, onlyPrefix = '') {
          recording = on;
          prefix = onlyPrefix;
          statusAt = new Map();
          dlrAt = new Map();
          seenEvents = new Set();
          for (const k of Object.keys(counts)) counts[k] = 0;
        },
        dump: () => ({ status: [...statusAt], dlr: [...dlrAt] }),
      }),
    ),
  );
}

module.exports = { startReceiver };

if (require.main === module) {
  startReceiver(JSON.parse(process.argv[2] || '{}')).then((rx) => {
    process.on('message', (m) => {
      if (m.cmd === 'record') rx.record(m.on, m.prefix);
      else if (m.cmd === 'secret') rx.setSecret(m.secret, m.every);
      else if (m.cmd === 'stats') process.send({ id: m.id, counts: { ...rx.counts }, problems: rx.problems.slice() });
      else if (m.cmd === 'dump') process.send({ id: m.id, ...rx.dump() });
    });
    process.on('disconnect', () => process.exit(0));
    if (process.send) process.send({ ready: true, port: rx.port });
    else console.log(`bench callback receiver on http://127.0.0.1:${rx.port}/`);
  });
}
