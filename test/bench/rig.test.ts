import http from 'node:http';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import * as smpp from 'smpp';
import { generateCallbackSecret, signCallback } from '../../control-plane/src/callbacks/signing';

// The rig is the benchmark's (plain JavaScript, like the rest of bench/).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const rig = require('../../bench/lib/rig') as {
  buildRig(): string;
  startRig(mode: 'receiver' | 'smsc', options?: Record<string, unknown>): Promise<RigHelper>;
  paced(o: Record<string, unknown>): Promise<PacedResult>;
};
interface RigHelper {
  pid: number;
  port: number;
  record(prefix: string): void;
  secret(secret: string | undefined, every: number): void;
  call(cmd: 'stats' | 'dump'): Promise<any>;
  stop(): Promise<void>;
}
interface PacedResult {
  counts: { issued: number; ok: number; failed: number; shed: number };
  sentAt: Map<string, number>;
  latencies: number[];
  failures: string[];
  cpuSeconds: number;
}

/*
 * The benchmark rig's native half (bench/rig/*.c): the callback receiver, the SMSC and the
 * open-loop generator, each checked here against an independent peer (node:crypto's signatures,
 * node:http, the npm smpp client), since a rig that miscounts would make every number wrong.
 */
describe('bench rig (C): receiver, SMSC and load generator', function () {
  this.timeout(60_000);

  it('builds and passes its own known-answer tests (SHA-256, HMAC, base64, HTTP framing)', () => {
    const r = spawnSync(rig.buildRig(), ['selftest'], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/selftest ok: 0 failed/);
  });

  describe('receiver', () => {
    let rx: RigHelper;
    before(async () => {
      rx = await rig.startRig('receiver');
    });
    after(() => rx.stop());

    /** Raw bytes over one connection; resolves with everything the receiver answered once it has `answers` status lines. */
    const exchange = (bytes: string, answers: number) =>
      new Promise<string>((resolve, reject) => {
        const s = net.connect(rx.port, '127.0.0.1', () => s.write(bytes));
        let got = '';
        s.on('data', (d) => {
          got += d;
          if ((got.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= answers) {
            s.destroy();
            resolve(got);
          }
        });
        s.on('error', reject);
      });
    const post = (body: string, headers: Record<string, string> = {}) =>
      `POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.api+json\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('')}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const callback = (type: string, destination: string) => JSON.stringify({ data: { type, id: 'm1', attributes: { status: 'x', destination } }, meta: { event_id: `e-${type}-${destination}` } });

    it('records the first status and DLR callback per destination of the run, verifies signatures, and counts the rest', async () => {
      const secret = generateCallbackSecret();
      rx.record('410');
      rx.secret(secret, 1);
      const signed = (body: string, id: string) => post(body, signCallback({ id, timestamp: new Date(), body, secrets: [secret] }));
      const status = callback('outbound_message_callbacks', '41000000007');
      const dlr = callback('dlr_event', '41000000007');
      // Pipelined in one write: four answers, in order.
      const answers = await exchange(signed(status, 'e1') + signed(dlr, 'e2') + signed(status, 'e3') + signed(callback('dlr_event', '41100000001'), 'e4'), 4);
      expect(answers.match(/HTTP\/1\.1 \d{3}/g)).to.deep.equal(['HTTP/1.1 204', 'HTTP/1.1 204', 'HTTP/1.1 204', 'HTTP/1.1 204']);
      // A forged signature, then Kannel's GET form (type 8 = accepted by the SMSC, 1 = delivered).
      await exchange(post(callback('dlr_event', '41000000008'), { 'webhook-id': 'e5', 'webhook-timestamp': '1', 'webhook-signature': 'v1,AAAA' }), 1);
      await exchange('GET /kannel?to=%2B41000000009&type=8 HTTP/1.1\r\nHost: x\r\n\r\nGET /kannel?to=41000000009&type=1 HTTP/1.1\r\nHost: x\r\n\r\n', 2);
      const st = await rx.call('stats');
      expect(st.counts).to.include({ requests: 7, status: 2, dlr: 3, duplicates: 1, stale: 1, verified: 4, badSignatures: 1 });
      expect(st.problems).to.deep.equal(['bad signature on e5']);
      const dump = await rx.call('dump');
      expect(dump.status.map(([d]: [string]) => d).sort()).to.deep.equal(['41000000007', '41000000009']);
      expect(dump.dlr.map(([d]: [string]) => d).sort()).to.deep.equal(['41000000007', '41000000008', '41000000009']);
      for (const [, t] of [...dump.status, ...dump.dlr]) expect(Math.abs(t - Date.now())).to.be.below(60_000);
    });

    it('reads a chunked body, and answers what it cannot frame with 400 and a hang-up', async () => {
      rx.record('410');
      rx.secret(undefined, 0);
      const body = callback('dlr_event', '41000000001');
      const chunked = `POST /callbacks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(10).toString(16)}\r\n${body.slice(0, 10)}\r\n${(body.length - 10).toString(16)}\r\n${body.slice(10)}\r\n0\r\n\r\n`;
      expect(await exchange(chunked, 1)).to.match(/^HTTP\/1\.1 204/);
      expect(await exchange('POST /callbacks HTTP/1.1\r\nContent-Length: x\r\n\r\n', 1)).to.match(/^HTTP\/1\.1 400[\s\S]*Connection: close/);
      const st = await rx.call('stats');
      expect(st.counts.dlr).to.equal(1);
      expect(st.problems[0]).to.match(/unreadable request: bad Content-Length/);
    });
  });

  describe('SMSC', () => {
    let smsc: RigHelper;
    before(async () => {
      smsc = await rig.startRig('smsc', { systemId: 'bench', password: 'secret' });
    });
    after(() => smsc.stop());

    const bind = (password: string) =>
      new Promise<{ session: smpp.Session; status: number }>((resolve, reject) => {
        const session = smpp.connect({ url: `smpp://127.0.0.1:${smsc.port}`, auto_enquire_link_period: 0 } as never);
        session.on('error', reject);
        session.bind_transceiver({ system_id: 'bench', password }, (pdu: smpp.PDU) => resolve({ session, status: pdu.command_status }));
      });

    it('refuses a wrong password, then answers submit_sm and sends a receipt that names the message, again when nacked', async () => {
      const wrong = await bind('nope');
      expect(wrong.status).to.equal(0x0e);
      wrong.session.close();
      const { session, status } = await bind('secret');
      expect(status).to.equal(0);
      smsc.record('410');
      const receipts: smpp.PDU[] = [];
      session.on('deliver_sm', (pdu: smpp.PDU) => {
        receipts.push(pdu);
        // The first receipt is refused: the SMSC must send it again.
        session.send(pdu.response({ command_status: receipts.length === 1 ? 0x64 : 0 }));
      });
      const resp = await new Promise<smpp.PDU>((resolve) =>
        session.submit_sm({ source_addr: '12125551234', destination_addr: '41000000003', short_message: 'hi', registered_delivery: 1 }, (pdu: smpp.PDU) => resolve(pdu)),
      );
      expect(resp.command_status).to.equal(0);
      expect(resp.message_id).to.match(/^[0-9A-F]{10}$/);
      for (let i = 0; i < 100 && receipts.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(receipts).to.have.length(2);
      for (const r of receipts) {
        expect(r.esm_class & 0x3c).to.equal(0x04);
        expect(r.receipted_message_id).to.equal(resp.message_id);
        expect(r.message_state).to.equal(2);
        expect(r.source_addr).to.equal('41000000003');
        expect(r.destination_addr).to.equal('12125551234');
        expect(String(r.short_message.message ?? r.short_message)).to.match(new RegExp(`^id:${resp.message_id} sub:001 dlvrd:001 submit date:\\d{10} done date:\\d{10} stat:DELIVRD err:000`));
      }
      const st = await smsc.call('stats');
      expect(st.counts).to.include({ submits: 1, receiptsSent: 2, receiptsAcked: 1, receiptsNacked: 1 });
      const dump = await smsc.call('dump');
      expect(dump.submits.map(([d]: [string]) => d)).to.deep.equal(['41000000003']);
      expect(dump.receipts.map(([d]: [string]) => d)).to.deep.equal(['41000000003']);
      session.close();
    });
  });

  describe('load generator', () => {
    let server: http.Server;
    let port: number;
    const bodies: string[] = [];
    before(async () => {
      let n = 0;
      server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          bodies.push(body);
          n++;
          // Every 10th is refused; every 7th closes its connection after answering.
          res.writeHead(n % 10 === 0 ? 503 : 201, { 'content-type': 'application/json', ...(n % 7 === 0 ? { connection: 'close' } : {}) });
          res.end('{}');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise((r) => server.close(r)));

    it('issues the rate for the duration, one destination per request, and counts what was refused', async () => {
      const ticks: number[] = [];
      const r = await rig.paced({
        targets: [{ host: '127.0.0.1', port, request: (dest: string) => ({ method: 'POST', path: '/outbound_messages', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ destination: dest }) }) }],
        rate: 200,
        durationS: 1.5,
        connections: 8,
        prefix: '420',
        tick: (s: number) => ticks.push(s),
      });
      expect(r.counts.issued).to.equal(300);
      expect(r.counts.ok + r.counts.failed).to.equal(300);
      expect(r.counts.failed).to.equal(30);
      expect(r.failures[0]).to.equal('HTTP 503');
      expect(r.sentAt.size).to.equal(270);
      expect(r.latencies).to.have.length(270);
      expect(ticks[0]).to.equal(1);
      // Every request carried its own destination, in the body, with the length kept.
      const dests = bodies.map((b) => JSON.parse(b).destination as string);
      expect(new Set(dests).size).to.equal(300);
      expect(dests.every((d) => /^420\d{8}$/.test(d))).to.equal(true);
      for (const d of r.sentAt.keys()) expect(dests).to.include(d);
      expect(r.cpuSeconds).to.be.above(0);
    });

    it('fails the requests that nobody answers, instead of waiting for ever', async () => {
      const r = await rig.paced({
        targets: [{ host: '127.0.0.1', port: 1, request: (dest: string) => ({ method: 'GET', path: `/?to=${dest}`, headers: {} }) }],
        rate: 50,
        durationS: 0.2,
        connections: 2,
        prefix: '430',
      });
      expect(r.counts.ok).to.equal(0);
      expect(r.counts.failed).to.equal(r.counts.issued);
      expect(r.failures[0]).to.match(/refused/i);
    });
  });
});
