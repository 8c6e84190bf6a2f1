import { expect } from 'chai';
import http from 'node:http';
import net, { AddressInfo } from 'node:net';
import { Http1Pool } from '../../control-plane/src/callbacks/http1-client';
import { SsrfGuard } from '../../control-plane/src/callbacks/ssrf-guard';

/** A raw TCP server: `onRequest(socket, requestText, index)` answers however the test wants; counts connections. */
async function rawServer(onRequest: (socket: net.Socket, request: string, n: number) => void): Promise<{ port: number; connections: () => number; requests: string[]; close(): Promise<void> }> {
  let connections = 0;
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buf = '';
    socket.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const request = buf.slice(0, end + 4 + length);
        buf = buf.slice(end + 4 + length);
        requests.push(request);
        onRequest(socket, request, requests.length);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('Http1Pool (callback POSTs over plain HTTP/1.1)', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const pool = (port: number, extra: Partial<ConstructorParameters<typeof Http1Pool>[0]> = {}) => {
    const p = new Http1Pool({ host: '127.0.0.1', port, hostHeader: `127.0.0.1:${port}`, connections: 4, timeoutMs: 2000, ...extra });
    cleanups.push(() => p.close());
    return p;
  };

  it('posts the body and headers intact to a node:http server, and reuses one connection for posts one after another', async () => {
    const seen: Array<{ headers: http.IncomingHttpHeaders; body: string; url?: string }> = [];
    let connections = 0;
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ headers: req.headers, body, url: req.url });
        res.writeHead(200, { 'retry-after': '7' });
        res.end('ok');
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const port = (server.address() as AddressInfo).port;
    const p = pool(port);
    const body = JSON.stringify({ text: 'naïve ☃ 😀' });
    for (let i = 0; i < 3; i++) {
      expect(await p.post('/cb?x=1', { 'content-type': 'application/vnd.api+json', 'webhook-id': `msg_${i}` }, body)).to.deep.equal({ statusCode: 200, retryAfter: '7' });
    }
    expect(seen).to.have.length(3);
    expect(seen[2]!.body).to.equal(body);
    expect(seen[2]!.url).to.equal('/cb?x=1');
    expect(seen[2]!.headers).to.include({ host: `127.0.0.1:${port}`, 'content-type': 'application/vnd.api+json', 'webhook-id': 'msg_2', 'content-length': String(Buffer.byteLength(body)) });
    expect(connections).to.equal(1);
    server.closeAllConnections();
  });

  it('reads bodies of every framing: Content-Length, chunked with trailers, 204, a 100 Continue first, and up to the close', async () => {
    const answers = [
      'HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n',
      'HTTP/1.1 204 No Content\r\n\r\n',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    ];
    const srv = await rawServer((socket, _req, n) => socket.write(answers[n - 1]!));
    cleanups.push(() => srv.close());
    const p = pool(srv.port);
    const statuses = [];
    for (let i = 0; i < answers.length; i++) statuses.push((await p.post('/', {}, '{}')).statusCode);
    expect(statuses).to.deep.equal([202, 200, 204, 201, 200]);
    expect(srv.connections()).to.equal(1);
    // HTTP/1.0 without a length: the body ends at the close, and the next post needs a new connection
    const close = await rawServer((socket) => socket.end('HTTP/1.0 503 Busy\r\nRetry-After: 30\r\n\r\nbusy busy'));
    cleanups.push(() => close.close());
    const q = pool(close.port);
    expect(await q.post('/', {}, '{}')).to.deep.equal({ statusCode: 503, retryAfter: '30' });
    expect(await q.post('/', {}, '{}')).to.deep.equal({ statusCode: 503, retryAfter: '30' });
    expect(close.connections()).to.equal(2);
  });

  it('takes a new connection after Connection: close, and after a response split into single bytes', async () => {
    const srv = await rawServer((socket, _req, n) => {
      if (n === 1) return socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
      const bytes = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
      let i = 0;
      const drip = () => {
        if (i < bytes.length) socket.write(bytes.subarray(i, ++i), () => setImmediate(drip));
      };
      drip();
    });
    cleanups.push(() => srv.close());
    const p = pool(srv.port);
    expect((await p.post('/', {}, 'a')).statusCode).to.equal(200);
    expect((await p.post('/', {}, 'b')).statusCode).to.equal(200);
    expect((await p.post('/', {}, 'c')).statusCode).to.equal(200);
    expect(srv.connections()).to.equal(2);
  });

  it('sends a post again, once, when a kept-alive connection closes before answering it (the server timed it out as it was reused)', async () => {
    const srv = await rawServer((socket, _req, n) => {
      if (n === 2) return socket.destroy();
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    cleanups.push(() => srv.close());
    const p = pool(srv.port);
    expect((await p.post('/', {}, 'first')).statusCode).to.equal(200);
    expect((await p.post('/', {}, 'second')).statusCode).to.equal(200);
    expect(srv.requests.map((r) => r.slice(r.indexOf('\r\n\r\n') + 4))).to.deep.equal(['first', 'second', 'second']);
    expect(srv.connections()).to.equal(2);
  });

  it('fails a post on a new connection that closes before answering, and one that closes twice, without a third try', async () => {
    const srv = await rawServer((socket, _req, n) => {
      if (n === 1) return socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
    });
    cleanups.push(() => srv.close());
    const p = pool(srv.port);
    expect((await p.post('/', {}, 'x')).statusCode).to.equal(200);
    const err = await p.post('/', {}, 'y').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/closed before the response|ECONNRESET/);
    expect(srv.requests).to.have.length(3); // the first, then the second and its one retry
    const fresh = pool(srv.port);
    const err2 = await fresh.post('/', {}, 'z').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err2?.message).to.match(/closed before the response|ECONNRESET/);
    expect(srv.requests).to.have.length(4); // no retry on a connection that never answered
  });

  it('times out a post the server never answers, and the next post works on a new connection', async () => {
    const srv = await rawServer((socket, _req, n) => {
      if (n > 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    cleanups.push(() => srv.close());
    const p = pool(srv.port, { timeoutMs: 150 });
    const started = Date.now();
    const err = await p.post('/', {}, 'x').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.equal('timed out after 150 ms');
    expect(Date.now() - started).to.be.greaterThanOrEqual(140);
    expect((await p.post('/', {}, 'y')).statusCode).to.equal(200);
    expect(srv.connections()).to.equal(2);
  });

  it('fails a malformed response and drops that connection; bytes after a response close it too', async () => {
    const srv = await rawServer((socket, _req, n) => {
      if (n === 1) return socket.write('SMTP ready\r\n\r\n');
      if (n === 2) return socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n');
      if (n === 3) return socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    cleanups.push(() => srv.close());
    const p = pool(srv.port, { connections: 1 });
    const first = await p.post('/', {}, 'a').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(first?.message).to.match(/^malformed response: status line/);
    expect((await p.post('/', {}, 'b')).statusCode).to.equal(200);
    const third = await p.post('/', {}, 'c').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(third?.message).to.match(/^malformed response: chunk size/);
    expect((await p.post('/', {}, 'd')).statusCode).to.equal(200);
    expect(srv.connections()).to.equal(4);
  });

  it('refuses a response head over 16 KiB', async () => {
    const srv = await rawServer((socket) => socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    cleanups.push(() => srv.close());
    const err = await pool(srv.port)
      .post('/', {}, 'a')
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(err?.message).to.match(/response head over 16384 bytes/);
  });

  it('refuses a header or path that would break the request, sending nothing', async () => {
    const srv = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    cleanups.push(() => srv.close());
    const p = pool(srv.port);
    const e1 = await p.post('/', { 'x-a': 'ok\r\nInjected: yes' }, '{}').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(e1?.message).to.match(/header "x-a" has characters/);
    const e2 = await p.post('/a b', {}, '{}').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(e2?.message).to.match(/path "\/a b"/);
    expect(srv.connections()).to.equal(0);
  });

  it('keeps at most `connections` connections, queueing the rest, and closes idle ones after idleMs', async () => {
    const held: net.Socket[] = [];
    const srv = await rawServer((socket) => held.push(socket));
    cleanups.push(() => srv.close());
    const p = pool(srv.port, { connections: 2, idleMs: 100 });
    const posts = [0, 1, 2, 3, 4].map((i) => p.post('/', {}, String(i)));
    while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    expect(srv.connections()).to.equal(2);
    expect(held).to.have.length(2);
    // answer as requests arrive until all five are done
    const answer = setInterval(() => {
      for (const s of held.splice(0)) s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    }, 5);
    cleanups.push(() => clearInterval(answer));
    expect((await Promise.all(posts)).map((r) => r.statusCode)).to.deep.equal([200, 200, 200, 200, 200]);
    expect(srv.connections()).to.equal(2);
    await new Promise((r) => setTimeout(r, 300));
    expect((await p.post('/', {}, 'after idle')).statusCode).to.equal(200);
    expect(srv.connections()).to.equal(3);
  });

  it('applies the SSRF guard to the address a name resolves to', async () => {
    const srv = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    cleanups.push(() => srv.close());
    const refused = new Http1Pool({ host: 'localhost', port: srv.port, hostHeader: `localhost:${srv.port}`, connections: 1, timeoutMs: 2000, lookup: new SsrfGuard([]).lookup });
    cleanups.push(() => refused.close());
    const err = await refused.post('/', {}, '{}').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/^callback blocked: localhost resolves to .* is a loopback address/);
    expect(srv.connections()).to.equal(0);
    const allowed = new Http1Pool({ host: 'localhost', port: srv.port, hostHeader: `localhost:${srv.port}`, connections: 1, timeoutMs: 2000, lookup: new SsrfGuard(['127.0.0.0/8', '::1/128']).lookup });
    cleanups.push(() => allowed.close());
    expect((await allowed.post('/', {}, '{}')).statusCode).to.equal(200);
  });

  it('fails with the connection error when nothing listens', async () => {
    const srv = await rawServer(() => undefined);
    const port = srv.port;
    await srv.close();
    const err = await pool(port)
      .post('/', {}, '{}')
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(err?.message).to.match(/ECONNREFUSED/);
  });
});
