import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import pino from 'pino';
import { CallbackPoster } from '../../control-plane/src/callbacks/callback-poster';
import { generateCallbackSecret, verifyCallback } from '../../control-plane/src/callbacks/signing';

/*
 * The callback thread: posts go to a worker thread in batches and come back as results; a refused
 * address, a timeout and a dead thread are results too (attempts the retry policy handles), and
 * the next post after a dead thread starts a new one.
 */

describe('CallbackPoster (callbacks from a worker thread)', function () {
  this.timeout(20_000);
  let server: http.Server;
  let url: string;
  const seen: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  /** true: no post is answered; a string: posts whose body contains it are not. */
  let hold: boolean | string = false;

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen.push({ headers: req.headers, body });
        if (hold === true || (typeof hold === 'string' && body.includes(hold))) return; // never answers: the poster's timeout (or a dead thread) ends it
        res.writeHead(body.includes('retry') ? 503 : 204, body.includes('retry') ? { 'Retry-After': '7' } : {});
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    seen.length = 0;
    hold = false;
  });

  const logger = pino({ level: 'silent' });

  it('posts a batch from the thread and answers each with its own status, headers and body intact', async () => {
    const poster = new CallbackPoster({ allowCidrs: ['127.0.0.0/8'], perEndpoint: 4, timeoutMs: 5000 }, logger);
    try {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => poster.post(url, JSON.stringify({ n: i, kind: i % 5 === 0 ? 'retry' : 'ok' }), { 'webhook-id': `evt_${i}` })));
      expect(results.filter((r) => r.statusCode === 204)).to.have.length(16);
      expect(results.filter((r) => r.statusCode === 503 && r.retryAfter === '7')).to.have.length(4);
      expect(seen).to.have.length(20);
      for (const s of seen) expect(s.headers['webhook-id']).to.equal(`evt_${JSON.parse(s.body).n}`);
      expect(seen[0]!.headers['content-type']).to.equal('application/vnd.api+json');
    } finally {
      await poster.close();
    }
  });

  it('refuses a loopback target when CALLBACK_ALLOW_CIDRS does not list it, without connecting', async () => {
    const poster = new CallbackPoster({ allowCidrs: [], perEndpoint: 4, timeoutMs: 5000 }, logger);
    try {
      const r = await poster.post(url, '{}', {});
      expect(r.statusCode).to.equal(undefined);
      expect(r.error).to.match(/callback blocked: 127\.0\.0\.1 is a loopback address/);
      expect(seen).to.have.length(0);
    } finally {
      await poster.close();
    }
  });

  it('turns a timeout into a failed attempt', async () => {
    hold = true;
    const poster = new CallbackPoster({ allowCidrs: ['127.0.0.0/8'], perEndpoint: 4, timeoutMs: 300 }, logger);
    try {
      const r = await poster.post(url, '{}', {});
      expect(r.error).to.match(/timed out after 300 ms/);
    } finally {
      await poster.close();
    }
  });

  it('fails the posts a dead thread held, and starts a new thread for the next post', async () => {
    hold = true;
    const poster = new CallbackPoster({ allowCidrs: ['127.0.0.0/8'], perEndpoint: 4, timeoutMs: 10_000 }, logger);
    try {
      const pending = poster.post(url, '{}', {});
      for (const deadline = Date.now() + 5000; seen.length === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
      expect(seen, 'the held post reached the receiver').to.have.length(1);
      // The thread dies (as an uncaught error or an OOM would end it).
      await (poster as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      const lost = await pending;
      expect(lost.statusCode).to.equal(undefined);
      expect(lost.error).to.match(/callback thread exited/);
      hold = false;
      const next = await poster.post(url, '{"again":true}', {});
      expect(next.statusCode).to.equal(204);
    } finally {
      await poster.close();
    }
  });

  for (const thread of [true, false]) {
    it(`keeps at most perEndpoint requests out to one endpoint and starts the next as each answer comes (thread: ${thread})`, async () => {
      // A receiver of its own that answers after 30 ms and counts what is open at once.
      let open = 0;
      let most = 0;
      const slow = http.createServer((req, res) => {
        open++;
        most = Math.max(most, open);
        req.resume();
        setTimeout(() => {
          open--;
          res.writeHead(204).end();
        }, 30);
      });
      await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
      const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/cb`;
      const poster = new CallbackPoster({ allowCidrs: ['127.0.0.0/8'], perEndpoint: 3, timeoutMs: 5000, thread }, logger);
      try {
        const results = await Promise.all(Array.from({ length: 15 }, (_, i) => poster.post(slowUrl, `{"n":${i}}`, {})));
        expect(results.map((r) => r.statusCode)).to.deep.equal(Array(15).fill(204));
        expect(most).to.equal(3);
      } finally {
        await poster.close();
        slow.closeAllConnections();
        await new Promise((r) => slow.close(r));
      }
    });
  }

  it('does not send a post whose sendBy passed while it waited for a free connection', async () => {
    hold = '"first"'; // the first post holds the only connection until it times out
    const poster = new CallbackPoster({ allowCidrs: ['127.0.0.0/8'], perEndpoint: 1, timeoutMs: 300 }, logger);
    try {
      const first = poster.post(url, '{"first":true}', {});
      const late = poster.post(url, '{"late":true}', {}, Date.now() + 100);
      const onTime = poster.post(url, '{"onTime":true}', {}, Date.now() + 60_000);
      expect(await late).to.deep.equal({ notSent: true });
      expect((await first).error).to.match(/timed out/);
      const ot = await onTime;
      expect(ot.statusCode, JSON.stringify(ot)).to.equal(204);
      expect(seen.map((s) => JSON.parse(s.body))).to.deep.equal([{ first: true }, { onTime: true }]);
    } finally {
      await poster.close();
    }
  });

  it('posts from the main thread when thread is false', async () => {
    const poster = new CallbackPoster({ allowCidrs: ['127.0.0.0/8'], perEndpoint: 4, timeoutMs: 5000, thread: false }, logger);
    try {
      expect((await poster.post(url, '{}', {})).statusCode).to.equal(204);
      expect((poster as unknown as { worker?: unknown }).worker).to.equal(undefined);
    } finally {
      await poster.close();
    }
  });

  for (const thread of [true, false]) {
    it(`signs each post as it is sent, with every active secret (${thread ? 'on the callback thread' : 'in process'})`, async () => {
      const poster = new CallbackPoster({ allowCidrs: ['127.0.0.0/8'], perEndpoint: 4, timeoutMs: 5000, thread }, logger);
      const [current, previous] = [generateCallbackSecret(), generateCallbackSecret()];
      try {
        const before = Math.floor(Date.now() / 1000);
        const results = await Promise.all(['a', 'b'].map((k) => poster.post(url, JSON.stringify({ k }), {}, Infinity, { id: `evt_${k}`, secrets: [current, previous] })));
        expect(results.map((r) => r.statusCode)).to.deep.equal([204, 204]);
        expect(seen).to.have.length(2);
        for (const s of seen) {
          // Either secret verifies it (a receiver mid-rotation), and the id is the one given.
          for (const secret of [current, previous]) {
            const v = verifyCallback({ body: s.body, headers: s.headers, secret });
            expect(v.id).to.equal(`evt_${(v.payload as { k: string }).k}`);
            expect(v.timestamp.getTime() / 1000).to.be.at.least(before);
          }
          expect(String(s.headers['webhook-signature']).split(' ')).to.have.length(2);
        }
        // A secret that cannot sign fails that post alone, as a result.
        const bad = await poster.post(url, '{}', {}, Infinity, { id: 'evt_bad', secrets: ['not-a-secret'] });
        expect(bad.error).to.match(/callback secret #1/);
        expect(seen).to.have.length(2);
      } finally {
        await poster.close();
      }
    });
  }
});
