'use strict';
/**
 * Load generators, both in the benchmark's own process (separate from every server measured):
 * - closedLoop: autocannon with N connections, each sending its next request when the previous
 *   one is answered (the throughput ceiling at that concurrency). Latencies are taken from
 *   autocannon's per-response hook, with sub-millisecond precision.
 * - paced: an open-loop generator for the end-to-end runs, issuing requests at a steady rate
 *   whatever the latency (a slow server meets a queue, as it would in production), over
 *   kept-alive raw-socket HTTP/1.1 connections (cheaper than node:http: see paced), each request
 *   for a unique destination so every message can be followed to its callbacks.
 */
const autocannon = require('autocannon');
const net = require('node:net');
const { HttpReader } = require('./http1');
const { percentile } = require('./stats');

const now = () => performance.timeOrigin + performance.now();

// paced()'s sockets read into this one buffer in turn; HttpReader copies what it must keep.
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

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
 * A request as the target describes it, as the bytes to write: request line, Host, keep-alive,
 * the target's headers, Content-Length when the target gave a body without one, then the body.
 */
function requestBytes(target, hostLine, dest) {
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
  if (!host) head += hostLine;
  const body = spec.body;
  const hasBody = body !== undefined && body !== null && body.length > 0;
  if (hasBody && !length) head += `Content-Length: ${typeof body === 'string' ? Buffer.byteLength(body) : body.length}\r\n`;
  head += 'Connection: keep-alive\r\n\r\n';
  if (!hasBody) return head;
  return typeof body === 'string' ? head + body : Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/**
 * Up to `size` kept-alive raw TCP connections to one target, one request in flight on each; a
 * request due while all of them are busy waits in a FIFO queue for the first one free. A
 * connection the server closes (or that fails) is replaced when a request needs one; the request
 * it carried counts as failed. `settle(req, code, error)` is called once per request.
 */
class Pool {
  constructor(target, size, settle) {
    this.host = target.host;
    this.port = target.port;
    this.size = size;
    this.settle = settle;
    this.conns = new Set();
    this.idle = [];
    this.queue = [];
    this.queueHead = 0;
    this.closed = false;
  }

  send(req) {
    const conn = this.idle.pop();
    if (conn) return this.write(conn, req);
    this.queue.push(req);
    if (this.conns.size < this.size) this.open();
  }

  open() {
    const conn = { socket: null, current: null, dead: false, reader: null };
    conn.reader = new HttpReader({ response: true, onMessage: (m) => this.answered(conn, m) });
    // `onread`: reads land in one reused buffer and skip the stream machinery ('data' events).
    const socket = net.connect({
      host: this.host,
      port: this.port,
      onread: {
        buffer: READ_BUFFER,
        callback: (n, buf) => {
          try {
            conn.reader.push(buf.subarray(0, n));
          } catch (e) {
            this.drop(conn, `bad response: ${e.message}`);
          }
        },
      },
    });
    conn.socket = socket;
    socket.setNoDelay(true);
    socket.on('end', () => {
      try {
        // A response without Content-Length ends with the connection; anything else half read fails.
        conn.reader.end();
      } catch (e) {
        return this.drop(conn, e.message);
      }
      this.drop(conn, 'connection closed by the server before the response');
    });
    socket.on('error', (e) => this.drop(conn, e.message));
    socket.on('close', () => this.drop(conn, 'connection closed before the response'));
    this.conns.add(conn);
    // Written at once: net buffers it until the connection is up.
    this.next(conn);
  }

  /** The next queued request on `conn`, or `conn` waits idle. */
  next(conn) {
    if (this.queueHead === this.queue.length) return void this.idle.push(conn);
    const req = this.queue[this.queueHead];
    this.queue[this.queueHead++] = undefined;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    } else if (this.queueHead >= 4096 && this.queueHead * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    this.write(conn, req);
  }

  write(conn, req) {
    conn.current = req;
    conn.socket.write(req.bytes);
  }

  answered(conn, msg) {
    const req = conn.current;
    conn.current = null;
    if (!req) return void this.drop(conn, `HTTP ${msg.code} with no request in flight`);
    if (!msg.keepAlive) this.drop(conn);
    this.settle(req, msg.code);
    if (!conn.dead && !this.closed) this.next(conn);
  }

  /** Closes `conn`; the request in flight on it, if any, fails with `error`; a queued one gets a new connection. */
  drop(conn, error) {
    if (conn.dead) return;
    conn.dead = true;
    conn.reader.stop();
    conn.socket.destroy();
    this.conns.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    const req = conn.current;
    conn.current = null;
    if (req) this.settle(req, 0, error);
    if (!this.closed && this.queueHead < this.queue.length && this.conns.size < this.size) this.open();
  }

  close() {
    this.closed = true;
    for (const conn of [...this.conns]) this.drop(conn);
  }
}

/**
 * Open loop at `rate` requests/s for `durationS`, round-robin over `targets`; each target is
 * { host, port, request(dest) → { method, path, headers, body } }. Resolves with per-request data.
 * `tick(elapsedS, counts)` is called every second (backlog sampling).
 *
 * HTTP/1.1 over raw `net` sockets (`connections` split over the targets), not node:http: the
 * generator shares the machine with the systems it measures, and node:http's client took about
 * twice the CPU per request (most of what is left is the kernel's: a write and a wake-up per
 * request). Latency runs from when a request is issued, so time spent queued for a free
 * connection counts, as it would for a client in production.
 */
function paced({ targets, rate, durationS, connections, destination, tick, maxOutstanding = 20_000 }) {
  const sentAt = new Map();
  const latencies = [];
  const counts = { issued: 0, ok: 0, failed: 0, shed: 0, outstanding: 0 };
  const failures = [];
  let seq = 0;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const settle = (req, code, error) => {
      counts.outstanding--;
      if (code >= 200 && code < 300) {
        counts.ok++;
        latencies.push(now() - req.start);
        sentAt.set(req.dest, req.start);
      } else {
        counts.failed++;
        if (failures.length < 5) failures.push(error || `HTTP ${code}`);
      }
      maybeDone();
    };
    const per = Math.max(1, Math.round(connections / targets.length));
    const pools = targets.map((t) => new Pool(t, per, settle));
    const hostLines = targets.map((t) => `Host: ${t.host}:${t.port}\r\n`);
    const issue = () => {
      const dest = destination(seq);
      const i = seq % targets.length;
      seq++;
      const bytes = requestBytes(targets[i], hostLines[i], dest);
      const start = now();
      counts.issued++;
      counts.outstanding++;
      pools[i].send({ dest, start, bytes });
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
      for (const p of pools) p.close();
      const seconds = (performance.now() - t0) / 1000;
      resolve({ counts, seconds, sentAt, latencies, failures, p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
    };
  });
}

module.exports = { closedLoop, paced, now };
