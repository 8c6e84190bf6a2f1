import net, { LookupFunction } from 'node:net';

/*
 * A small HTTP/1.1 client for callback POSTs to `http:` endpoints: keep-alive connections, one
 * request at a time on each, the whole request in one write, and a response parser that reads the
 * status and Retry-After and skips the body (Content-Length, chunked, or up to the close). At two
 * callbacks per message it costs about a third less CPU per POST than undici's Pool on the same
 * connections (docs/PERFORMANCE.md, ninth pass); `https:` endpoints still go through undici.
 */

export interface Http1Response {
  statusCode: number;
  retryAfter?: string;
}

export interface Http1PoolOptions {
  host: string;
  port: number;
  /** The Host header (host[:port] as in the URL). */
  hostHeader: string;
  connections: number;
  /** From the request's start to the end of its response, connecting included. */
  timeoutMs: number;
  lookup?: LookupFunction;
  /** An idle connection is closed after this long (before the usual 5 s server keep-alive timeout). @default 4000 */
  idleMs?: number;
}

/** A response head larger than this is refused. */
const MAX_HEAD = 16 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');
const HEADER_TEXT = /^[\t\x20-\x7e]*$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

interface Job {
  bytes: string;
  resolve(r: Http1Response): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
  /** Sent again once after a kept-alive connection closed before answering (the server may have closed it as it was reused). */
  retried: boolean;
}

type BodyMode = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' };

class Connection {
  readonly socket: net.Socket;
  job?: Job;
  /** Completed a response already: a request on it may meet the server's idle close. */
  reused = false;
  idleSince = 0;
  private buf?: Buffer;
  private gotBytes = false;
  private head?: Http1Response & { keepAlive: boolean };
  private body?: BodyMode;

  constructor(
    private readonly pool: Http1Pool,
    options: Http1PoolOptions,
  ) {
    this.socket = net.connect({ host: options.host, port: options.port, lookup: options.lookup });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.onEnd(err));
    this.socket.on('close', () => this.onEnd());
  }

  send(job: Job): void {
    this.job = job;
    this.gotBytes = false;
    this.head = undefined;
    this.body = undefined;
    this.socket.write(job.bytes);
  }

  private onData(chunk: Buffer): void {
    if (!this.job) {
      // Bytes nobody asked for: the stream can no longer be trusted.
      this.socket.destroy();
      return;
    }
    this.gotBytes = true;
    let buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = undefined;
    try {
      for (;;) {
        if (!this.head) {
          const end = buf.indexOf(CRLF2);
          if (end < 0) {
            if (buf.length > MAX_HEAD) throw new Error(`response head over ${MAX_HEAD} bytes`);
            break;
          }
          if (end > MAX_HEAD) throw new Error(`response head over ${MAX_HEAD} bytes`);
          const parsed = parseHead(buf.toString('latin1', 0, end));
          buf = buf.subarray(end + 4);
          if (parsed === 'informational') continue;
          this.head = parsed.head;
          this.body = parsed.body;
        }
        const body = this.body!;
        if (body.kind === 'length') {
          const take = Math.min(body.left, buf.length);
          body.left -= take;
          buf = buf.subarray(take);
          if (body.left > 0) break;
          this.finish(buf.length > 0);
          return;
        }
        if (body.kind === 'chunked') {
          const line = buf.indexOf('\r\n');
          if (line < 0) {
            if (buf.length > 1024) throw new Error('chunk size line too long');
            break;
          }
          const sizeText = buf.toString('latin1', 0, line).split(';', 1)[0]!.trim();
          if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw new Error(`chunk size ${JSON.stringify(sizeText.slice(0, 20))}`);
          const size = parseInt(sizeText, 16);
          if (size === 0) {
            // The last chunk, then trailers up to an empty line.
            const rest = buf.subarray(line + 2);
            const done = rest.length >= 2 && rest[0] === 13 && rest[1] === 10 ? 2 : rest.indexOf(CRLF2) >= 0 ? rest.indexOf(CRLF2) + 4 : -1;
            if (done < 0) {
              if (rest.length > MAX_HEAD) throw new Error('trailers too long');
              break;
            }
            this.finish(rest.length > done);
            return;
          }
          if (buf.length < line + 2 + size + 2) break;
          buf = buf.subarray(line + 2 + size + 2);
          continue;
        }
        // close-delimited: everything until the server closes
        buf = buf.subarray(buf.length);
        break;
      }
    } catch (err) {
      this.fail(new Error(`malformed response: ${(err as Error).message}`));
      this.socket.destroy();
      return;
    }
    if (buf.length > 0) this.buf = Buffer.from(buf);
  }

  /** The response is complete; `extra` when more bytes followed it than were asked for. */
  private finish(extra: boolean): void {
    const job = this.job!;
    const head = this.head!;
    this.job = undefined;
    this.buf = undefined;
    clearTimeout(job.timer);
    job.resolve({ statusCode: head.statusCode, retryAfter: head.retryAfter });
    if (!head.keepAlive || extra) {
      this.socket.destroy();
      this.pool.gone(this);
      return;
    }
    this.reused = true;
    this.pool.idle(this);
  }

  private fail(err: Error): void {
    const job = this.job;
    if (!job) return;
    this.job = undefined;
    clearTimeout(job.timer);
    job.reject(err);
  }

  private onEnd(err?: Error): void {
    const job = this.job;
    this.pool.gone(this);
    if (!job) return;
    this.job = undefined;
    if (this.body?.kind === 'close' && !err) {
      clearTimeout(job.timer);
      job.resolve({ statusCode: this.head!.statusCode, retryAfter: this.head!.retryAfter });
      return;
    }
    if (this.reused && !this.gotBytes && !job.retried) {
      job.retried = true;
      this.pool.resend(job);
      return;
    }
    clearTimeout(job.timer);
    job.reject(err ?? new Error('connection closed before the response was complete'));
  }

  timeout(): void {
    this.job = undefined;
    this.socket.destroy();
  }
}

function parseHead(text: string): 'informational' | { head: Http1Response & { keepAlive: boolean }; body: BodyMode } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0]!);
  if (!m) throw new Error(`status line ${JSON.stringify(lines[0]!.slice(0, 40))}`);
  const statusCode = Number(m[2]);
  if (statusCode >= 100 && statusCode < 200) {
    if (statusCode === 101) throw new Error('101 Switching Protocols was not asked for');
    return 'informational';
  }
  let keepAlive = m[1] === '1';
  let length: number | undefined;
  let coding: 'none' | 'chunked' | 'other' = 'none';
  let retryAfter: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`header line ${JSON.stringify(line.slice(0, 40))}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) throw new Error(`content-length ${JSON.stringify(value)}`);
      length = Number(value);
    } else if (name === 'transfer-encoding') {
      coding = /(?:^|,)\s*chunked\s*$/i.test(value) ? 'chunked' : 'other';
    } else if (name === 'connection') {
      const tokens = value.toLowerCase().split(',').map((t) => t.trim());
      if (tokens.includes('close')) keepAlive = false;
      else if (tokens.includes('keep-alive')) keepAlive = true;
    } else if (name === 'retry-after' && retryAfter === undefined) {
      retryAfter = value;
    }
  }
  const head = { statusCode, retryAfter, keepAlive };
  if (statusCode === 204 || statusCode === 304) return { head, body: { kind: 'length', left: 0 } };
  if (coding === 'chunked') return { head, body: { kind: 'chunked' } };
  // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3); a coding other than chunked ends at the close.
  if (length !== undefined && coding === 'none') return { head, body: { kind: 'length', left: length } };
  head.keepAlive = false;
  return { head, body: { kind: 'close' } };
}

/** Keep-alive connections to one endpoint (host and port), at most `connections` at a time. */
export class Http1Pool {
  private readonly idleList: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly queue: Job[] = [];
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: Http1PoolOptions) {
    const idleMs = opts.idleMs ?? 4000;
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (let i = this.idleList.length - 1; i >= 0; i--) {
        const c = this.idleList[i]!;
        if (now - c.idleSince >= idleMs) {
          this.idleList.splice(i, 1);
          this.all.delete(c);
          c.socket.destroy();
        }
      }
    }, Math.min(1000, idleMs)).unref();
  }

  /** POSTs `body` to `path`; rejects on a connection error, a malformed response or the timeout. */
  post(path: string, headers: Record<string, string>, body: string): Promise<Http1Response> {
    if (this.closed) return Promise.reject(new Error('client closed'));
    let head = `POST ${path} HTTP/1.1\r\nhost: ${this.opts.hostHeader}\r\n`;
    for (const name in headers) {
      const value = headers[name]!;
      if (!TOKEN.test(name) || !HEADER_TEXT.test(value)) return Promise.reject(new Error(`header ${JSON.stringify(name)} has characters a header cannot carry`));
      head += `${name}: ${value}\r\n`;
    }
    if (!/^\/[\x21-\x7e]*$/.test(path)) return Promise.reject(new Error(`path ${JSON.stringify(path)} has characters a request line cannot carry`));
    head += `content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return new Promise<Http1Response>((resolve, reject) => {
      const job: Job = { bytes: head + body, resolve, reject, retried: false };
      job.timer = setTimeout(() => this.timedOut(job), this.opts.timeoutMs);
      this.dispatch(job);
    });
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idleList.length = 0;
    for (const job of this.queue.splice(0)) {
      clearTimeout(job.timer);
      job.reject(new Error('client closed'));
    }
  }

  /** @internal a connection finished its response and may take the next request. */
  idle(c: Connection): void {
    const next = this.queue.shift();
    if (next) return c.send(next);
    c.idleSince = Date.now();
    this.idleList.push(c);
  }

  /** @internal a connection closed. */
  gone(c: Connection): void {
    if (!this.all.delete(c)) return;
    const i = this.idleList.indexOf(c);
    if (i >= 0) this.idleList.splice(i, 1);
    // Room for a queued request on a new connection.
    const next = this.queue.shift();
    if (next) this.dispatch(next);
  }

  /** @internal sends a job again on a new connection. */
  resend(job: Job): void {
    if (this.closed) {
      clearTimeout(job.timer);
      job.reject(new Error('client closed'));
      return;
    }
    this.dispatch(job, true);
  }

  private dispatch(job: Job, fresh = false): void {
    if (!fresh) {
      const c = this.idleList.pop();
      if (c) return c.send(job);
    }
    if (this.all.size < this.opts.connections) {
      const c = new Connection(this, this.opts);
      this.all.add(c);
      c.send(job);
      return;
    }
    if (fresh) this.queue.unshift(job);
    else this.queue.push(job);
  }

  private timedOut(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    for (const c of this.all) {
      if (c.job === job) {
        this.all.delete(c);
        c.timeout();
        break;
      }
    }
    job.reject(new Error(`timed out after ${this.opts.timeoutMs} ms`));
    const next = this.queue.shift();
    if (next) this.dispatch(next);
  }
}
