'use strict';
/**
 * The benchmark's callback receiver: a raw-socket HTTP/1.1 server on loopback (keep-alive,
 * pipelining; see lib/http1.js) that answers at once (204 to POSTs, 200 to GETs) and records, per
 * destination, when the first status callback and the first final DLR arrived.
 *
 * - Our platform POSTs JSON:API callbacks (`outbound_message_callbacks`, `dlr_event`) signed with
 *   Standard Webhooks headers; every `verifyEvery`-th one is verified (all of them when 1).
 * - Kannel GETs its dlr-url: `?kind=kannel&to=%p&type=%d` (type 8 = SMSC accepted, 1 = delivered).
 *
 * Child process over IPC, like smsc.js: { cmd: 'record' | 'stats' | 'dump' | 'secret' }.
 */
const crypto = require('node:crypto');
const net = require('node:net');
const { HttpReader, parseHeaders } = require('./lib/http1');

const now = () => performance.timeOrigin + performance.now();

// Status line and framing of the three answers; `Connection:` and the blank line follow.
const ANSWER_204 = 'HTTP/1.1 204 No Content\r\n';
const ANSWER_200 = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n';
const ANSWER_400 = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n';

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

  /** One request: what node:http handed over before (headers read only to verify); returns the status to answer. */
  const handle = (method, url, head, raw) => {
    counts.requests++;
    if (method === 'GET') {
      // Kannel: /kannel?to=%p&type=%d
      const q = new URLSearchParams(url.slice(url.indexOf('?') + 1));
      const type = Number(q.get('type'));
      const dest = (q.get('to') || '').replace(/^\+/, '');
      if (type === 8) record('status', dest);
      else if (type === 1 || type === 2) record('dlr', dest);
      else counts.other++;
      return 200;
    }
    const body = raw.toString('utf8');
    let doc;
    try {
      doc = JSON.parse(body);
    } catch {
      counts.other++;
      return 400;
    }
    if (secret && verifyEvery > 0 && counts.requests % verifyEvery === 0) {
      const headers = parseHeaders(head);
      if (verify(headers, body)) counts.verified++;
      else {
        counts.badSignatures++;
        if (problems.length < 5) problems.push(`bad signature on ${headers['webhook-id']}`);
      }
    }
    const type = doc && doc.data && doc.data.type;
    const dest = doc && doc.data && doc.data.attributes && doc.data.attributes.destination;
    const eventId = doc && doc.meta && doc.meta.event_id;
    if (type === 'outbound_message_callbacks') record('status', dest, eventId);
    else if (type === 'dlr_event') record('dlr', dest, eventId);
    else counts.other++;
    return 204;
  };

  // HTTP/1.1 over raw sockets rather than node:http, which took about 1.4 times the CPU per callback
  // (most of what is left is the kernel's: a read, a write and a wake-up per callback): the
  // receiver shares the machine with the systems it measures, and its CPU is taken from them.
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    // Answers to the requests read from one chunk go out in one write, in order (pipelining).
    let out = '';
    let closing = false;
    const reader = new HttpReader({
      response: false,
      keepBody: true,
      onMessage: (m) => {
        const code = handle(m.method, m.target, m.head, m.body);
        const keep = m.keepAlive && !closing;
        out += code === 204 ? ANSWER_204 : code === 200 ? ANSWER_200 : ANSWER_400;
        out += keep ? 'Connection: keep-alive\r\n\r\n' : 'Connection: close\r\n\r\n';
        if (!keep) closing = true;
      },
    });
    socket.on('data', (chunk) => {
      if (closing) return;
      try {
        reader.push(chunk);
      } catch (e) {
        // Unreadable, so the rest of the stream cannot be framed either: say so and hang up.
        if (problems.length < 5) problems.push(`unreadable request: ${e.message}`);
        out += `${ANSWER_400}Connection: close\r\n\r\n`;
        closing = true;
      }
      if (closing) {
        reader.stop();
        socket.end(out);
      } else if (out) socket.write(out);
      out = '';
    });
    // A client that hangs up halfway through a request had no answer, and knows it: as node:http, no problem.
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });

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
          problems.length = 0;
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
