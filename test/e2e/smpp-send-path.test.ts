import { Writable } from 'node:stream';
import { expect } from 'chai';
import pino from 'pino';
import { verifyCallback } from '../../control-plane/src/callbacks/signing';
import type { Carrier, OutboundSubmission, ReceiptHandler, SubmitResult } from '../../control-plane/src/connectors/carrier';
import { SmppCarrier, SmppCarrierOptions } from '../../control-plane/src/connectors/smpp-connector';
import { CallbackReceiver, ReceivedCallback } from '../support/callback-receiver';
import { doc, startTestPlatform, TestPlatform } from '../support/platform';
import { basic, sendSms, single } from '../support/send-client';
import { ESME_RTHROTTLED, RecordedSubmit, TestSmsc, TestSmscOptions } from '../support/smsc';

/**
 * The send path end to end over a real SMPP bind: DIDWW-compatible API → messages table →
 * dispatcher → SmppCarrier → loopback TCP → test SMSC (test/support/smsc.ts) → deliver_sm
 * receipts → MessageStore → signed callbacks to a real HTTP receiver.
 */

const SOURCE = '12125551234';
const DEST = '15551234567';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Fixture {
  smsc: TestSmsc;
  carrier: SmppCarrier;
  t: TestPlatform;
  rx: CallbackReceiver;
  trunkId: string;
  auth: string;
  secret: string;
  carrierLogs: string[];
}

interface SetupOptions {
  smsc?: TestSmscOptions;
  carrier?: Partial<SmppCarrierOptions>;
  /** Wraps the SMPP carrier before the platform sees it (same name, so receipts still match). */
  wrap?: (carrier: SmppCarrier) => Carrier;
}

/** Polls an async probe until it returns something truthy. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Hands every submit result over `ms` late, so receipts reach the store before the outcome is written. */
class LateResultCarrier implements Carrier {
  constructor(
    private readonly inner: SmppCarrier,
    private readonly ms: number,
  ) {}
  get name() {
    return this.inner.name;
  }
  get connected() {
    return this.inner.connected;
  }
  start() {
    return this.inner.start();
  }
  stop() {
    return this.inner.stop();
  }
  onReceipt(handler: ReceiptHandler) {
    this.inner.onReceipt(handler);
  }
  async submit(msg: OutboundSubmission): Promise<SubmitResult> {
    const result = await this.inner.submit(msg);
    await sleep(this.ms);
    return result;
  }
}

describe('send path over SMPP: API → dispatcher → SmppCarrier → test SMSC over TCP → receipts → signed callbacks', function () {
  this.timeout(20_000);
  const cleanups: Array<() => Promise<void>> = [];
  let current: Fixture | undefined;

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && current) {
      console.log('--- connector log ---\n' + current.carrierLogs.join(''));
      console.log('--- platform log (warn+) ---\n' + current.t.logs.filter((l) => /"level":(40|50|60)/.test(l)).join(''));
    }
    current = undefined;
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(opts: SetupOptions = {}): Promise<Fixture> {
    const smsc = await TestSmsc.start({ receiptDelayMs: 20, ...opts.smsc });
    let fixture: Fixture | undefined;
    // The outage tests replace fixture.smsc with a restarted one: stop whichever is current.
    cleanups.push(() => (fixture ?? { smsc }).smsc.stop());
    const rx = await new CallbackReceiver().start();
    cleanups.push(() => rx.stop());
    const carrierLogs: string[] = [];
    const carrier = new SmppCarrier({
      name: 'smsc-a',
      host: smsc.host,
      port: smsc.port,
      systemId: 'esme',
      password: 'secret',
      enquireLinkIntervalMs: 1000,
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 200,
      bindTimeoutMs: 2000,
      submitTimeoutMs: 5000,
      logger: pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, cb) => (carrierLogs.push(String(chunk)), cb()) })),
      ...opts.carrier,
    });
    const t = await startTestPlatform({ CALLBACK_ALLOW_CIDRS: '127.0.0.0/8,::1/128' }, { carriers: { connectors: [opts.wrap ? opts.wrap(carrier) : carrier] } });
    // Stopping the platform stops the carrier (unbind) before the SMSC goes away.
    cleanups.push(() => t.stop());
    await t.api('POST', '/v1/dids', doc('dids', { number: SOURCE }));
    const tr = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'App', callback_url: rx.url, dlr_events: true }));
    expect(tr.status, tr.text).to.equal(201);
    const trunkId = tr.body.data.id;
    const c = (await t.api('GET', `/v1/sms_trunks/${trunkId}/credentials`)).body.data.attributes;
    const secret = (await t.api('GET', `/v1/sms_trunks/${trunkId}/callback_secret`)).body.data.attributes.secret;
    expect(secret).to.match(/^whsec_/);
    await smsc.waitFor('the platform to bind', () => carrier.connected);
    fixture = { smsc, carrier, t, rx, trunkId, auth: basic(c.username, c.password), secret, carrierLogs };
    current = fixture;
    return fixture;
  }

  async function send(f: Fixture, destination: string, content: string): Promise<{ id: string; attributes: any }> {
    const res = await sendSms(f.t.url, f.auth, single({ destination, source: SOURCE, content }));
    expect(res.status, res.text).to.equal(201);
    return { id: res.body.data.id, attributes: res.body.data.attributes };
  }

  const view = async (f: Fixture, id: string) => {
    const res = await f.t.api('GET', `/v1/messages/${id}`);
    expect(res.status, res.text).to.equal(200);
    return res.body.data.attributes;
  };

  /**
   * Waits until the message has a final status and both of its callbacks (status, DLR) were
   * delivered to the receiver; returns the admin view. From then on the receiver's record of the
   * message is complete, so counting its callbacks is exact.
   */
  const settled = (f: Fixture, id: string, timeoutMs = 10_000) =>
    eventually(
      `message ${id} to reach a final status with its status and DLR callbacks delivered`,
      async () => {
        const v = await view(f, id);
        const kinds = v.callbacks.map((c: any) => c.kind).sort();
        return v.final_status && kinds.join() === 'dlr,status' && v.callbacks.every((c: any) => c.state === 'delivered') ? v : undefined;
      },
      timeoutMs,
    );

  const dlrs = (f: Fixture, id: string) => f.rx.forMessage(id).filter((c) => c.json.data.type === 'dlr_event');
  const statuses = (f: Fixture, id: string) => f.rx.forMessage(id).filter((c) => c.json.data.type === 'outbound_message_callbacks');
  const submitsTo = (smsc: TestSmsc, destination: string) => smsc.submits.filter((s) => s.destinationAddr === destination);
  const verified = (f: Fixture, cb: ReceivedCallback) => verifyCallback({ body: cb.body, headers: cb.headers as Record<string, string>, secret: f.secret });

  /** UDH 05 00 03 ref total seq on every part, one ref, seq 1..n in order. */
  function expectConcatenated(parts: RecordedSubmit[], dataCoding: number): number {
    const n = parts.length;
    const ref = parts[0]!.udh?.[3];
    parts.forEach((p, i) => {
      expect(p.esmClass & 0x40, `part ${i + 1} UDHI`).to.equal(0x40);
      expect(p.dataCoding).to.equal(dataCoding);
      expect(p.registeredDelivery).to.equal(1);
      expect(p.udh?.toString('hex'), `part ${i + 1} UDH`).to.equal(Buffer.from([0x05, 0x00, 0x03, ref!, n, i + 1]).toString('hex'));
      // UCS-2 parts fill the 140-octet user data; GSM-7 goes unpacked (one septet per octet, the SMSC packs), 6 + 153 octets.
      expect(p.shortMessage.length).to.be.at.most(dataCoding === 8 ? 140 : 159);
    });
    return ref!;
  }

  /** The test SMSC writes `done date:YYMMDDhhmm` (UTC, no seconds): the DLR's done_at must be that minute, not the time it was processed. */
  function expectReceiptDoneAt(doneAt: string) {
    expect(doneAt).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);
    expect(Math.abs(Date.parse(doneAt) - Date.now())).to.be.below(3 * 60_000);
  }

  const ucs2 = (b: Buffer) => Buffer.from(b).swap16().toString('utf16le');

  it('(1) sends a GSM-7 SMS as one submit_sm and reports the receipt through signed status and DLR callbacks', async () => {
    const f = await setup();
    const content = 'Hi @{€}';
    const { id, attributes } = await send(f, DEST, content);
    expect(attributes).to.deep.equal({ encoding: 'gsm7', segments: 1 });

    const submit = await f.smsc.waitFor('the submit_sm', () => f.smsc.submits[0]);
    expect(submit).to.include({
      sourceAddrTon: 1,
      sourceAddrNpi: 1,
      sourceAddr: SOURCE,
      destAddrTon: 1,
      destAddrNpi: 1,
      destinationAddr: DEST,
      esmClass: 0,
      registeredDelivery: 1,
      dataCoding: 0,
    });
    expect(submit.udh).to.equal(undefined);
    // Unpacked GSM 03.38: '@' is 0x00, '{' '€' '}' are escapes — not ASCII, not Latin-1.
    expect(submit.payload.toString('hex')).to.equal('486920001b281b651b29');

    const v = await settled(f, id);
    expect(f.smsc.submits).to.have.length(1);
    expect(f.smsc.deliverResponses).to.deep.equal([{ messageId: submit.messageId, commandStatus: 0, attempt: 1 }]);

    const [status] = statuses(f, id);
    const [dlr] = dlrs(f, id);
    expect(statuses(f, id)).to.have.length(1);
    expect(dlrs(f, id)).to.have.length(1);
    for (const cb of [status!, dlr!]) {
      expect(verified(f, cb).id).to.equal(cb.json.meta.event_id);
      expect(cb.headers['content-type']).to.equal('application/vnd.api+json');
    }
    expect(() => verifyCallback({ body: dlr!.body.replace('DELIVERED', 'EXPIRED'), headers: dlr!.headers as Record<string, string>, secret: f.secret })).to.throw();
    expect(status!.json.data).to.deep.include({ type: 'outbound_message_callbacks', id });
    expect(status!.json.data.attributes).to.include({ status: 'Success', code_id: null, destination: DEST, source: SOURCE, fragments_sent: 1 });
    expect(status!.json.meta).to.include({ message_id: id, sequence: 1 });
    expect(dlr!.json.data).to.deep.include({ type: 'dlr_event', id });
    expect(dlr!.json.data.attributes).to.include({ status: 'DELIVERED', destination: DEST, source: SOURCE, parts_total: 1, parts_delivered: 1, parts_failed: 0 });
    expect(dlr!.json.meta).to.include({ message_id: id, sequence: 2 });
    expectReceiptDoneAt(dlr!.json.data.attributes.done_at);

    expect(v).to.include({ status: 'delivered', final_status: 'DELIVERED', connector: 'smsc-a', parts_total: 1, parts_delivered: 1, parts_failed: 0 });
    expect(v.carrier_message_ids).to.deep.equal([submit.messageId]);
    expect(v.events.map((e: any) => e.type)).to.deep.equal(['accepted', 'submitted', 'receipt', 'final']);
  });

  it('(2) splits long GSM-7 and UCS-2 messages into 3 concatenated submit_sm each and rolls 3 receipts up into one DLR', async () => {
    const f = await setup();
    const alphabet = 'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 ';
    const gsmText = Array.from({ length: 400 }, (_, i) => alphabet[i % alphabet.length]).join('');
    // 66 + 2 + 80 = 148 UTF-16 units: the emoji does not fit at the end of part 1 and must open part 2 whole.
    const ucsText = 'Ж'.repeat(66) + '👋' + 'д'.repeat(80);
    const gsm = await send(f, '15550000001', gsmText);
    const ucs = await send(f, '15550000002', ucsText);
    expect(gsm.attributes).to.deep.equal({ encoding: 'gsm7', segments: 3 });
    expect(ucs.attributes).to.deep.equal({ encoding: 'ucs2', segments: 3 });

    const [gv, uv] = [await settled(f, gsm.id), await settled(f, ucs.id)];

    const gParts = submitsTo(f.smsc, '15550000001');
    expect(gParts).to.have.length(3);
    const gRef = expectConcatenated(gParts, 0);
    expect(gParts.map((p) => p.payload.length)).to.deep.equal([153, 153, 94]);
    // Letters, digits and space have the same code in GSM 03.38 as in ASCII.
    expect(Buffer.concat(gParts.map((p) => p.payload)).toString('latin1')).to.equal(gsmText);

    const uParts = submitsTo(f.smsc, '15550000002');
    expect(uParts).to.have.length(3);
    const uRef = expectConcatenated(uParts, 8);
    expect(uRef, 'each message gets its own concatenation reference').to.not.equal(gRef);
    expect(uParts.map((p) => p.payload.length)).to.deep.equal([132, 134, 30]);
    expect(uParts.map((p) => ucs2(p.payload))).to.deep.equal(['Ж'.repeat(66), '👋' + 'д'.repeat(65), 'д'.repeat(15)]);

    for (const [id, v, parts] of [[gsm.id, gv, gParts], [ucs.id, uv, uParts]] as const) {
      expect(v).to.include({ status: 'delivered', final_status: 'DELIVERED', parts_total: 3, parts_delivered: 3, parts_failed: 0 });
      expect(v.carrier_message_ids).to.deep.equal(parts.map((p) => p.messageId));
      expect(v.events.filter((e: any) => e.type === 'receipt')).to.have.length(3);
      expect(statuses(f, id)).to.have.length(1);
      expect(statuses(f, id)[0]!.json.data.attributes).to.include({ status: 'Success', fragments_sent: 3 });
      expect(dlrs(f, id)).to.have.length(1);
      const dlr = dlrs(f, id)[0]!;
      verified(f, dlr);
      expect(dlr.json.data.attributes).to.include({ status: 'DELIVERED', parts_total: 3, parts_delivered: 3, parts_failed: 0 });
    }
  });

  it('(2) reports a 3-part message as UNDELIVERABLE with parts_failed 1 when one part is undeliverable', async () => {
    const dest = '15550000003';
    const f = await setup({ smsc: { receiptStatus: (d, s) => (d === dest && s.udh?.[5] === 2 ? 'UNDELIV' : 'DELIVRD') } });
    const { id } = await send(f, dest, 'x'.repeat(400));
    const v = await settled(f, id);
    expect(submitsTo(f.smsc, dest)).to.have.length(3);
    expect(v).to.include({ status: 'undeliverable', final_status: 'UNDELIVERABLE', parts_total: 3, parts_delivered: 2, parts_failed: 1 });
    expect(v.events.filter((e: any) => e.type === 'receipt').map((e: any) => e.status).sort()).to.deep.equal(['DELIVERED', 'DELIVERED', 'UNDELIVERABLE']);
    expect(dlrs(f, id)).to.have.length(1);
    expect(dlrs(f, id)[0]!.json.data.attributes).to.include({ status: 'UNDELIVERABLE', parts_total: 3, parts_delivered: 2, parts_failed: 1 });
    expect(statuses(f, id)[0]!.json.data.attributes).to.include({ status: 'Success', fragments_sent: 3 });
  });

  it('(3) handles receipts that arrive before their submit_sm_resp: one final DLR each, correct final status', async () => {
    const f = await setup({
      smsc: { receiptBeforeResp: true, responseDelayMs: 100, receiptStatus: (d) => (d.endsWith('0') ? 'UNDELIV' : 'DELIVRD') },
    });
    const ok = await send(f, '15550000011', 'early receipt');
    const bad = await send(f, '15550000010', 'early receipt, undeliverable');
    const long = await send(f, '15550000021', 'y'.repeat(200));
    const [okView, badView, longView] = [await settled(f, ok.id), await settled(f, bad.id), await settled(f, long.id)];
    expect(okView).to.include({ status: 'delivered', final_status: 'DELIVERED' });
    expect(badView).to.include({ status: 'undeliverable', final_status: 'UNDELIVERABLE', parts_failed: 1 });
    expect(longView).to.include({ status: 'delivered', final_status: 'DELIVERED', parts_total: 2, parts_delivered: 2 });
    for (const id of [ok.id, bad.id, long.id]) expect(dlrs(f, id), `DLRs of ${id}`).to.have.length(1);
    expect(dlrs(f, bad.id)[0]!.json.data.attributes).to.include({ status: 'UNDELIVERABLE', error_code: '001' });
    expect(f.smsc.deliverResponses.every((r) => r.commandStatus === 0 && r.attempt === 1)).to.equal(true);
    expect(Number((await f.t.platform.db.knex('pending_receipts').count({ n: '*' }).first())!.n)).to.equal(0);
  });

  it('(3) parks receipts that reach the store before the submit outcome (pending_receipts) and applies them with the outcome', async () => {
    const f = await setup({
      smsc: { receiptBeforeResp: true, responseDelayMs: 20, receiptStatus: (d) => (d.endsWith('0') ? 'UNDELIV' : 'DELIVRD') },
      wrap: (c) => new LateResultCarrier(c, 1000),
    });
    const knex = f.t.platform.db.knex;
    const ok = await send(f, '15550000031', 'parked receipt');
    const bad = await send(f, '15550000030', 'parked receipt, undeliverable');
    const long = await send(f, '15550000041', 'z'.repeat(200));
    // The SMSC's deliver_sm_resp is only sent once the receipt is committed; the outcomes are still up to 1 s away.
    await f.smsc.waitFor('4 receipts acknowledged', () => f.smsc.deliverResponses.length >= 4);
    const parked = await knex('pending_receipts').select('carrier_message_id', 'status');
    expect(parked, 'receipts parked while their carrier ids are unknown').to.have.length(4);
    expect(parked.map((p: any) => p.status).sort()).to.deep.equal(['DELIVERED', 'DELIVERED', 'DELIVERED', 'UNDELIVERABLE']);

    const [okView, badView, longView] = [await settled(f, ok.id), await settled(f, bad.id), await settled(f, long.id)];
    expect(okView).to.include({ status: 'delivered', final_status: 'DELIVERED' });
    expect(badView).to.include({ status: 'undeliverable', final_status: 'UNDELIVERABLE', parts_failed: 1 });
    expect(longView).to.include({ status: 'delivered', final_status: 'DELIVERED', parts_total: 2, parts_delivered: 2 });
    expect(okView.events.map((e: any) => e.type)).to.deep.equal(['accepted', 'submitted', 'receipt', 'final']);
    for (const id of [ok.id, bad.id, long.id]) expect(dlrs(f, id), `DLRs of ${id}`).to.have.length(1);
    expect(Number((await knex('pending_receipts').count({ n: '*' }).first())!.n)).to.equal(0);
    expect(dlrs(f, bad.id)[0]!.json.data.attributes).to.include({ status: 'UNDELIVERABLE', parts_failed: 1 });
  });

  it('(3) keeps the receipt error code and done date when a parked receipt is applied', async () => {
    const f = await setup({ smsc: { receiptBeforeResp: true, receiptStatus: () => 'UNDELIV' }, wrap: (c) => new LateResultCarrier(c, 600) });
    const { id } = await send(f, '15550000050', 'parked, undeliverable');
    await f.smsc.waitFor('the receipt acknowledged', () => f.smsc.deliverResponses.length >= 1);
    expect(Number((await f.t.platform.db.knex('pending_receipts').count({ n: '*' }).first())!.n)).to.equal(1);
    await settled(f, id);
    const dlr = dlrs(f, id)[0]!.json.data.attributes;
    // The SMSC said err:001; the same receipt applied directly (the test above, 15550000010) reports '001'.
    expect(dlr).to.include({ status: 'UNDELIVERABLE', error_code: '001' });
    expectReceiptDoneAt(dlr.done_at);
  });

  it('(4) retries submits the SMSC throttles (0x58) and delivers each message once it accepts', async () => {
    const f = await setup();
    f.smsc.failNext(3, ESME_RTHROTTLED);
    const a = await send(f, '15550000061', 'throttled a');
    const b = await send(f, '15550000062', 'throttled b');
    const [av, bv] = [await settled(f, a.id), await settled(f, b.id)];
    expect(f.smsc.submits.filter((s) => s.commandStatus === ESME_RTHROTTLED)).to.have.length(3);
    for (const [id, v, dest] of [[a.id, av, '15550000061'], [b.id, bv, '15550000062']] as const) {
      const submits = submitsTo(f.smsc, dest);
      expect(submits.filter((s) => s.commandStatus === 0), `accepted submits to ${dest}`).to.have.length(1);
      expect(submits.filter((s) => s.commandStatus === ESME_RTHROTTLED).length, `throttled submits to ${dest}`).to.be.at.least(1);
      const retries = v.events.filter((e: any) => e.type === 'submit_retry');
      expect(retries).to.have.length(submits.length - 1);
      for (const r of retries) expect(JSON.stringify(r.detail)).to.match(/ESME_RTHROTTLED/);
      expect(v.events.map((e: any) => e.type).slice(-3)).to.deep.equal(['submitted', 'receipt', 'final']);
      expect(v).to.include({ status: 'delivered', final_status: 'DELIVERED' });
      expect(dlrs(f, id)).to.have.length(1);
      expect(statuses(f, id)).to.have.length(1);
      expect(statuses(f, id)[0]!.json.data.attributes).to.include({ status: 'Success' });
    }
  });

  describe('(5) carrier outage', () => {
    async function outage(f: Fixture, downMs: number, destinations: string[]) {
      const port = f.smsc.port;
      const before = f.smsc;
      await before.stop();
      await eventually('the connector to notice the outage', async () => !f.carrier.connected, 2000);
      const ids = [];
      for (const d of destinations) ids.push((await send(f, d, `queued during the outage for ${d}`)).id);
      await sleep(downMs);
      expect(f.carrier.connected).to.equal(false);
      f.smsc = await TestSmsc.start({ port, receiptDelayMs: 20 });
      const views = [];
      for (const id of ids) views.push(await settled(f, id));
      expect(f.carrier.stats.reconnects).to.be.at.least(2);
      expect(before.submits.filter((s) => destinations.includes(s.destinationAddr))).to.have.length(0);
      for (const d of destinations) expect(submitsTo(f.smsc, d), `submit_sm to ${d}`).to.have.length(1);
      ids.forEach((id) => expect(dlrs(f, id), `DLRs of ${id}`).to.have.length(1));
      return views;
    }

    const destinations = Array.from({ length: 5 }, (_, i) => `1555000007${i}`);

    it('holds messages sent while the SMSC is down and submits each exactly once after it comes back on the same port', async () => {
      const f = await setup();
      const views = await outage(f, 600, destinations);
      for (const v of views) {
        expect(v).to.include({ status: 'delivered', final_status: 'DELIVERED' });
        expect(v.events.map((e: any) => e.type)).to.deep.equal(['accepted', 'submitted', 'receipt', 'final']);
      }
    });

    it('retries through the dispatcher when the outage outlasts submitTimeoutMs, still submitting each message exactly once', async () => {
      const f = await setup({ carrier: { submitTimeoutMs: 250 } });
      const views = await outage(f, 900, destinations);
      for (const v of views) {
        expect(v).to.include({ status: 'delivered', final_status: 'DELIVERED' });
        const retries = v.events.filter((e: any) => e.type === 'submit_retry');
        expect(retries.length).to.be.at.least(1);
        for (const r of retries) expect(JSON.stringify(r.detail)).to.match(/not bound to the SMSC/);
      }
    });

    it('resubmits only messages the SMSC never acknowledged when the connection drops with submits outstanding', async () => {
      const f = await setup();
      f.smsc.silence();
      const ids = [];
      for (const d of destinations.slice(0, 3)) ids.push((await send(f, d, `in flight to ${d}`)).id);
      await f.smsc.waitFor('3 unanswered submit_sm', () => f.smsc.submits.length >= 3);
      f.smsc.silence(false);
      f.smsc.dropConnections();
      for (const id of ids) await settled(f, id);
      for (const d of destinations.slice(0, 3)) {
        const submits = submitsTo(f.smsc, d);
        expect(submits.filter((s) => s.messageId), `acknowledged submit_sm to ${d}`).to.have.length(1);
        // Every extra copy is one the SMSC never answered: the at-least-once window, nothing more.
        expect(submits.filter((s) => !s.messageId)).to.have.length(submits.length - 1);
      }
      ids.forEach((id) => expect(dlrs(f, id)).to.have.length(1));
    });
  });

  it('(6) sends one DLR when the SMSC delivers the same receipt twice', async () => {
    const f = await setup({ smsc: { receiptCopies: 2 } });
    const single1 = await send(f, '15550000081', 'receipt twice');
    const multi = await send(f, '15550000082', 'w'.repeat(200));
    // deliver_sm_resp goes out only after the receipt is committed: 2 copies × 3 receipts.
    await f.smsc.waitFor('6 receipts acknowledged', () => f.smsc.deliverResponses.length >= 6);
    expect(f.smsc.deliverResponses.every((r) => r.commandStatus === 0)).to.equal(true);
    for (const id of [single1.id, multi.id]) {
      const v = await settled(f, id);
      expect(v).to.include({ status: 'delivered', final_status: 'DELIVERED' });
      expect(v.events.filter((e: any) => e.type === 'receipt_duplicate')).to.have.length(v.parts_total);
      expect(v.events.filter((e: any) => e.type === 'final')).to.have.length(1);
      expect(dlrs(f, id), `DLRs of ${id}`).to.have.length(1);
    }
    expect(dlrs(f, multi.id)[0]!.json.data.attributes).to.include({ parts_total: 2, parts_delivered: 2 });
  });

  it('(6) records both copies of a receipt that overtook its submit_sm_resp: one DLR, and the copy in the history', async () => {
    // The copies arrive before the carrier id is known, so both are parked; the second is still a duplicate.
    const f = await setup({ smsc: { receiptCopies: 2, receiptBeforeResp: true, responseDelayMs: 50 } });
    const single = await send(f, '15550000083', 'receipt twice, early');
    const multi = await send(f, '15550000084', 'e'.repeat(200));
    await f.smsc.waitFor('6 receipts acknowledged', () => f.smsc.deliverResponses.length >= 6);
    for (const id of [single.id, multi.id]) {
      const v = await settled(f, id);
      expect(v).to.include({ status: 'delivered', final_status: 'DELIVERED' });
      expect(v.events.filter((e: any) => e.type === 'receipt'), `receipts of ${id}`).to.have.length(v.parts_total);
      expect(v.events.filter((e: any) => e.type === 'receipt_duplicate'), `duplicates of ${id}`).to.have.length(v.parts_total);
      expect(v.events.filter((e: any) => e.type === 'final')).to.have.length(1);
      expect(dlrs(f, id), `DLRs of ${id}`).to.have.length(1);
    }
    const [{ n: parked }] = await f.t.platform.db.knex('pending_receipts').count({ n: '*' });
    expect(Number(parked)).to.equal(0);
  });
});
