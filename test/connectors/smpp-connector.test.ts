import { expect } from 'chai';
import { CarrierError, DeliveryReceipt } from '../../control-plane/src/connectors/carrier';
import { SmppCarrier, SmppCarrierOptions } from '../../control-plane/src/connectors/smpp-connector';
import { submission } from '../support/submissions';
import { ESME_RINVPASWD, ESME_RTHROTTLED, ESME_RX_T_APPN, TestSmsc, TestSmscOptions } from '../support/smsc';

const msg = submission;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function rejection(promise: Promise<unknown>): Promise<CarrierError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(CarrierError);
    return err as CarrierError;
  }
  throw new Error('expected a rejection, got a result');
}

describe('SmppCarrier against a test SMSC over TCP', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startSmsc(options: TestSmscOptions = {}): Promise<TestSmsc> {
    const smsc = await TestSmsc.start(options);
    cleanups.push(() => smsc.stop());
    return smsc;
  }

  function carrierFor(smsc: TestSmsc, options: Partial<SmppCarrierOptions> = {}): SmppCarrier {
    const carrier = new SmppCarrier({
      host: smsc.host,
      port: smsc.port,
      systemId: 'esme',
      password: 'secret',
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 200,
      ...options,
    });
    cleanups.push(() => carrier.stop());
    return carrier;
  }

  async function bound(options: TestSmscOptions = {}, carrierOptions: Partial<SmppCarrierOptions> = {}) {
    const smsc = await startSmsc(options);
    const carrier = carrierFor(smsc, carrierOptions);
    const receipts: DeliveryReceipt[] = [];
    carrier.onReceipt(async (r) => {
      receipts.push(r);
    });
    await carrier.start();
    return { smsc, carrier, receipts };
  }

  it('binds as a transceiver and submits a short GSM-7 message byte for byte', async () => {
    const { smsc, carrier } = await bound();
    expect(carrier.connected).to.equal(true);

    const result = await carrier.submit(msg('Hi @ {x} €5'));

    expect(smsc.binds).to.have.length(1);
    expect(smsc.binds[0]).to.include({ command: 'bind_transceiver', systemId: 'esme', commandStatus: 0 });
    expect(smsc.submits).to.have.length(1);
    const [submit] = smsc.submits;
    expect(submit).to.include({
      dataCoding: 0,
      esmClass: 0,
      registeredDelivery: 1,
      sourceAddrTon: 1,
      sourceAddrNpi: 1,
      sourceAddr: '4930123456',
      destAddrTon: 1,
      destAddrNpi: 1,
      destinationAddr: '4915112345671',
    });
    // Unpacked GSM 03.38: '@' is 0x00, '{' '}' '€' are ESC + 0x28 / 0x29 / 0x65.
    expect(submit.shortMessage.toString('hex')).to.equal(
      Buffer.from([0x48, 0x69, 0x20, 0x00, 0x20, 0x1b, 0x28, 0x78, 0x1b, 0x29, 0x20, 0x1b, 0x65, 0x35]).toString('hex'),
    );
    expect(result.carrierMessageIds).to.deep.equal([submit.messageId]);
    expect(carrier.stats).to.include({ submitted: 1, acked: 1, failed: 0 });
  });

  it('splits a long GSM-7 message into three parts sharing one concatenation reference', async () => {
    const { smsc, carrier } = await bound();
    const content = 'abcdefghij'.repeat(40);

    const result = await carrier.submit(msg(content));

    expect(smsc.submits).to.have.length(3);
    const ref = smsc.submits[0].udh![3];
    smsc.submits.forEach((s, i) => {
      expect(s.esmClass).to.equal(0x40);
      expect(s.dataCoding).to.equal(0);
      expect(s.udh!.toString('hex')).to.equal(Buffer.from([0x05, 0x00, 0x03, ref, 3, i + 1]).toString('hex'));
    });
    expect(smsc.submits.map((s) => s.payload.length)).to.deep.equal([153, 153, 94]);
    expect(Buffer.concat(smsc.submits.map((s) => s.payload)).toString('latin1')).to.equal(content);
    expect(result.carrierMessageIds).to.deep.equal(smsc.submits.map((s) => s.messageId));

    await carrier.submit(msg(content));
    expect(smsc.submits[3].udh![3], 'a new message gets a new reference').to.not.equal(ref);
  });

  it('sends text with an emoji as UCS-2 (data_coding 8)', async () => {
    const { smsc, carrier } = await bound();
    const content = 'Привет 👋';

    await carrier.submit(msg(content));

    expect(smsc.submits).to.have.length(1);
    expect(smsc.submits[0].dataCoding).to.equal(8);
    expect(smsc.submits[0].esmClass).to.equal(0);
    expect(smsc.submits[0].shortMessage.toString('hex')).to.equal(Buffer.from(content, 'utf16le').swap16().toString('hex'));
  });

  it('turns receipts into DELIVERED and UNDELIVERABLE and acks each after the handler', async () => {
    const { smsc, carrier, receipts } = await bound({ receiptStatus: (d) => (d.endsWith('0') ? 'UNDELIV' : 'DELIVRD') });

    const ok = await carrier.submit(msg('one', '+4915112345671'));
    const bad = await carrier.submit(msg('two', '+4915112345670'));
    await until('two receipts acked', () => smsc.deliverResponses.length === 2);

    const byId = new Map(receipts.map((r) => [r.carrierMessageId, r]));
    expect(byId.get(ok.carrierMessageIds[0])).to.include({ status: 'DELIVERED', final: true, errorCode: '000' });
    expect(byId.get(bad.carrierMessageIds[0])).to.include({ status: 'UNDELIVERABLE', final: true, errorCode: '001' });
    expect(byId.get(ok.carrierMessageIds[0])!.doneAt).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z$/);
    expect(smsc.deliverResponses.map((r) => r.commandStatus)).to.deep.equal([0, 0]);
    expect(carrier.stats.receipts).to.equal(2);
  });

  it('reads receipted_message_id and message_state TLVs and keeps ids with ASCII-only characters intact', async () => {
    // '_' and '@' are where the library's GSM decoding of data_coding 0 differs from ASCII.
    const { smsc, carrier, receipts } = await bound({ receiptTlvs: true, messageIdPrefix: 'x_@' });

    const result = await carrier.submit(msg('tlv'));
    await until('receipt acked', () => smsc.deliverResponses.length === 1);

    expect(result.carrierMessageIds[0]).to.match(/^x_@/);
    expect(receipts[0]).to.include({ carrierMessageId: result.carrierMessageIds[0], status: 'DELIVERED' });
    expect(receipts[0].raw).to.contain(`id:${result.carrierMessageIds[0]} `);
    expect(smsc.deliverResponses[0].commandStatus).to.equal(0);
  });

  it('hands over a receipt that arrives before its submit_sm_resp only after submit() resolved', async () => {
    const { carrier } = await bound({ receiptBeforeResp: true, responseDelayMs: 100 });
    const events: string[] = [];
    carrier.onReceipt(async (r) => {
      events.push(`receipt ${r.carrierMessageId}`);
    });

    const result = await carrier.submit(msg('race'));
    events.push(`resolved ${result.carrierMessageIds[0]}`);
    await until('receipt', () => events.length === 2);

    expect(events).to.deep.equal([`resolved ${result.carrierMessageIds[0]}`, `receipt ${result.carrierMessageIds[0]}`]);
  });

  it('holds a receipt that overtook its response for the parts in flight when it came, and for no later one', async () => {
    const { carrier } = await bound({ receiptBeforeResp: true, responseDelayMs: 150 });
    const events: string[] = [];
    carrier.onReceipt(async (r) => {
      events.push(`receipt ${r.carrierMessageId}`);
    });
    const submitted = (content: string, destination: string) =>
      carrier.submit(msg(content, destination)).then((r) => {
        events.push(`resolved ${r.carrierMessageIds[0]}`);
        return r.carrierMessageIds[0];
      });

    const first = submitted('first', '+4915112345671');
    await sleep(60);
    // Written while the first is in flight: its receipt comes at once, its response 150 ms later.
    const [a, b] = await Promise.all([first, submitted('second', '+4915112345672')]);
    await until('both receipts', () => events.length === 4);

    expect(events).to.deep.equal([`resolved ${a}`, `receipt ${a}`, `resolved ${b}`, `receipt ${b}`]);
  });

  it('still resolves submit() when the receipt and its submit_sm_resp arrive back to back', async () => {
    const { smsc, carrier, receipts } = await bound({ receiptBeforeResp: true });

    const result = await carrier.submit(msg('race'));
    await until('receipt acked', () => smsc.deliverResponses.length === 1);

    expect(receipts.map((r) => r.carrierMessageId)).to.deep.equal(result.carrierMessageIds);
    expect(smsc.deliverResponses[0].commandStatus).to.equal(0);
  });

  it('answers ESME_RX_T_APPN when the receipt handler fails, then acks the redelivered receipt', async () => {
    const { smsc, carrier } = await bound({ redeliveryDelayMs: 50 });
    const seen: string[] = [];
    carrier.onReceipt(async (r) => {
      seen.push(r.carrierMessageId);
      if (seen.length === 1) throw new Error('database unavailable');
    });

    const result = await carrier.submit(msg('retry me'));
    await until('second deliver_sm_resp', () => smsc.deliverResponses.length === 2);

    expect(smsc.deliverResponses.map((r) => [r.commandStatus, r.attempt])).to.deep.equal([
      [ESME_RX_T_APPN, 1],
      [0, 2],
    ]);
    expect(seen).to.deep.equal([result.carrierMessageIds[0], result.carrierMessageIds[0]]);
  });

  it('acks a mobile-originated deliver_sm without handing it to the receipt handler', async () => {
    const { smsc, receipts } = await bound();

    const status = await smsc.sendMo('4915112345671', '4930123456', 'hello back');

    expect(status).to.equal(0);
    await sleep(20);
    expect(receipts).to.have.length(0);
  });

  it('fails when the SMSC throttles, with a retryable error carrying ESME_RTHROTTLED', async () => {
    const { smsc, carrier } = await bound();
    smsc.failNext(1, ESME_RTHROTTLED);

    const err = await rejection(carrier.submit(msg('too fast')));

    expect(err.retryable).to.equal(true);
    expect(err.commandStatus).to.equal(0x58);
    expect(err.message).to.contain('ESME_RTHROTTLED');
    const next = await carrier.submit(msg('later'));
    expect(next.carrierMessageIds).to.have.length(1);
  });

  it('fails when the SMSC rejects the destination, not retryable, with code 105', async () => {
    const { smsc, carrier } = await bound();
    smsc.failNext(1, 0x0b);

    const err = await rejection(carrier.submit(msg('nowhere')));

    expect(err).to.include({ retryable: false, codeId: 105, commandStatus: 0x0b });
  });

  it('fails when one part of a long message is refused, and sends none of the parts still queued', async () => {
    const { smsc, carrier } = await bound({}, { windowSize: 1 });
    smsc.failNext(1, 0x0b);

    const err = await rejection(carrier.submit(msg('x'.repeat(400))));
    await sleep(50);

    expect(err.retryable).to.equal(false);
    expect(smsc.submits).to.have.length(1);
  });

  it('fails to start when the password is wrong, and does not retry the bind', async () => {
    const smsc = await startSmsc();
    const carrier = carrierFor(smsc, { password: 'wrong' });

    const err = await rejection(carrier.start());
    await sleep(300);

    expect(err.retryable).to.equal(false);
    expect(err.commandStatus).to.equal(ESME_RINVPASWD);
    expect(err.message).to.contain('ESME_RINVPASWD').and.to.contain('password');
    expect(smsc.binds).to.have.length(1);
    expect(carrier.connected).to.equal(false);
    expect((await rejection(carrier.submit(msg('x')))).retryable).to.equal(true);
  });

  it('reconnects after the SMSC restarts on the same port, and later submits succeed', async () => {
    const { smsc, carrier } = await bound();
    await carrier.submit(msg('before'));
    const port = smsc.port;

    await smsc.stop();
    await until('disconnect noticed', () => !carrier.connected);
    const restarted = await startSmsc({ port });
    await until('rebound', () => carrier.connected);
    const result = await carrier.submit(msg('after'));

    expect(restarted.submits).to.have.length(1);
    expect(result.carrierMessageIds).to.deep.equal([restarted.submits[0].messageId]);
    expect(carrier.stats.reconnects).to.be.greaterThanOrEqual(1);
  });

  it('fails with a retryable error when the connection drops before submit_sm_resp (the at-least-once case)', async () => {
    const { smsc, carrier } = await bound();
    smsc.silence();

    const pending = carrier.submit(msg('lost'));
    await smsc.waitFor('the submit', () => smsc.submits.length === 1);
    smsc.dropConnections();
    const err = await rejection(pending);

    expect(err.retryable).to.equal(true);
    expect(err.message).to.contain('may have accepted');
    smsc.silence(false);
    await until('rebound', () => carrier.connected);
    expect((await carrier.submit(msg('again'))).carrierMessageIds).to.have.length(1);
  });

  it('fails with a retryable error when no submit_sm_resp arrives within submitTimeoutMs, freeing the window', async () => {
    const { smsc, carrier } = await bound({}, { submitTimeoutMs: 200, windowSize: 1 });
    smsc.silence();

    const err = await rejection(carrier.submit(msg('slow')));
    smsc.silence(false);
    const next = await carrier.submit(msg('next'));

    expect(err.retryable).to.equal(true);
    expect(err.message).to.contain('no submit_sm_resp within 200 ms');
    expect(next.carrierMessageIds).to.have.length(1);
  });

  it('does not abandon a written part at submitTimeoutMs: its response gets responseTimeoutMs from the write', async () => {
    const { smsc, carrier } = await bound({ responseDelayMs: 250 }, { submitTimeoutMs: 100, responseTimeoutMs: 1000 });

    const result = await carrier.submit(msg('slow answer'));

    expect(result.carrierMessageIds).to.deep.equal([smsc.submits[0]!.messageId]);
    expect(smsc.submits).to.have.length(1);
    expect(carrier.stats).to.include({ submitted: 1, acked: 1, failed: 0 });
  });

  it('fails a message still queued at submitTimeoutMs and never writes it later', async () => {
    const smsc = await startSmsc();
    const port = smsc.port;
    const carrier = carrierFor(smsc, { submitTimeoutMs: 150 });
    carrier.onReceipt(async () => undefined);
    await carrier.start();
    await smsc.stop();
    await until('disconnected', () => !carrier.connected);

    const err = await rejection(carrier.submit(msg('during the outage')));
    const back = await startSmsc({ port });
    await until('rebound', () => carrier.connected);
    await sleep(100);

    expect(err.retryable).to.equal(true);
    expect(err.message).to.contain('not bound to the SMSC');
    expect(back.submits).to.have.length(0);
  });

  it('never has more than windowSize submits outstanding', async () => {
    const { smsc, carrier } = await bound({ responseDelayMs: 50 }, { windowSize: 3 });

    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => carrier.submit(msg(`w${i}`))));

    expect(results).to.have.length(10);
    expect(smsc.submits).to.have.length(10);
    expect(smsc.maxOutstanding).to.equal(3);
  });

  it('caps submits per second with a token bucket', async () => {
    const { smsc, carrier } = await bound({}, { maxSubmitsPerSecond: 20 });

    await Promise.all(Array.from({ length: 8 }, (_, i) => carrier.submit(msg(`r${i}`))));

    // Burst of 2 (a tenth of a second), then one every 50 ms: the last arrives >= 300 ms after the first.
    const spanMs = smsc.submits[7].receivedAt - smsc.submits[0].receivedAt;
    expect(spanMs).to.be.greaterThan(270);
  });

  it('sends enquire_link at the configured interval', async () => {
    const { smsc } = await bound({}, { enquireLinkIntervalMs: 50 });

    await sleep(280);

    expect(smsc.enquireLinks.length).to.be.within(3, 6);
  });

  it('reconnects when enquire_link goes unanswered', async () => {
    const { smsc, carrier } = await bound({}, { enquireLinkIntervalMs: 50 });
    smsc.ignoreEnquireLinks();

    await smsc.waitFor('a second bind', () => smsc.binds.length >= 2);
    smsc.ignoreEnquireLinks(false);
    await until('rebound', () => carrier.connected);

    expect(carrier.stats.reconnects).to.be.greaterThanOrEqual(1);
  });
});
