import { expect } from 'chai';
// The bench rig is plain JavaScript (bench/ runs without a build step).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { HttpReader, parseHeaders } = require('../../bench/lib/http1') as {
  HttpReader: new (o: { response: boolean; keepBody?: boolean; onMessage: (m: Message) => void }) => { push(b: Buffer): void; end(): boolean };
  parseHeaders: (head: string) => Record<string, string>;
};

interface Message {
  code: number;
  method: string;
  target: string;
  keepAlive: boolean;
  head: string;
  body: Buffer;
}

/*
 * The bench rig's HTTP/1.x reader (bench/lib/http1.js): the load generator and the callback
 * receiver count what they read with it, so a misread message would be a wrong benchmark number.
 * Every stream below is also fed split at every byte, since TCP may cut it anywhere.
 */
describe('bench rig: HTTP/1.x reader', () => {
  const read = (text: string, opts: { response: boolean; keepBody?: boolean }, split?: number): Message[] => {
    const out: Message[] = [];
    const reader = new HttpReader({ ...opts, onMessage: (m) => out.push({ ...m, body: Buffer.from(m.body) }) });
    const bytes = Buffer.from(text, 'latin1');
    if (split === undefined) reader.push(bytes);
    else {
      reader.push(bytes.subarray(0, split));
      reader.push(bytes.subarray(split));
    }
    reader.end();
    return out;
  };
  const everySplit = (text: string, opts: { response: boolean; keepBody?: boolean }, check: (m: Message[]) => void) => {
    for (let i = 0; i <= text.length; i++) check(read(text, opts, i));
  };

  it('reads pipelined responses: Content-Length, chunked, 204 without a body, and Connection: close', () => {
    const text =
      'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}' +
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n' +
      'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n' +
      'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy';
    everySplit(text, { response: true, keepBody: true }, (m) => {
      expect(m.map((x) => x.code)).to.deep.equal([201, 200, 204, 503]);
      expect(m.map((x) => x.body.toString())).to.deep.equal(['{"ok":true}', 'hello world', '', 'busy']);
      expect(m.map((x) => x.keepAlive)).to.deep.equal([true, true, true, false]);
    });
  });

  it('reads a response without a length up to the close, and skips 100 Continue', () => {
    everySplit('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of it', { response: true, keepBody: true }, (m) => {
      expect(m).to.have.length(1);
      expect(m[0]!.code).to.equal(200);
      expect(m[0]!.body.toString()).to.equal('all of it');
      expect(m[0]!.keepAlive).to.equal(false);
    });
  });

  it('reads requests with their bodies, and parseHeaders gives every header of the head', () => {
    const text =
      'POST /cb HTTP/1.1\r\nHost: x\r\nWebhook-Id: evt_1\r\ncontent-length: 7\r\nX-A: 1\r\nX-A: 2\r\n\r\n{"a":1}' +
      'GET /kannel?to=%2B4420&type=8 HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /old HTTP/1.0\r\n\r\n';
    everySplit(text, { response: false, keepBody: true }, (m) => {
      expect(m.map((x) => `${x.method} ${x.target}`)).to.deep.equal(['POST /cb', 'GET /kannel?to=%2B4420&type=8', 'GET /old']);
      expect(m[0]!.body.toString()).to.equal('{"a":1}');
      expect(m.map((x) => x.keepAlive)).to.deep.equal([true, true, false]);
      expect(parseHeaders(m[0]!.head)).to.deep.equal({ host: 'x', 'webhook-id': 'evt_1', 'content-length': '7', 'x-a': '1, 2' });
    });
  });

  it('throws on what it cannot read instead of passing it for a good message', () => {
    const bad = [
      ['HTTP/2 200 OK\r\n\r\n', true, /bad status line/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc', true, /bad Content-Length/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', true, /bad chunk size/],
      ['POST /cb HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', false, /unsupported Transfer-Encoding/],
      ['POST /cb HTTP/1.1\r\nno colon here\r\n\r\n', false, /bad header line/],
    ] as const;
    for (const [text, response, error] of bad) expect(() => read(text, { response }), text).to.throw(error);
    // A connection that closes half way through a message.
    expect(() => read('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', { response: true })).to.throw(/closed in the middle/);
  });
});
