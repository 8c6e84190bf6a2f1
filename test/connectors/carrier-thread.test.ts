import { expect } from 'chai';
import type { Worker } from 'node:worker_threads';
import { CarrierError, DeliveryReceipt } from '../../control-plane/src/connectors/carrier';
import { ThreadedCarrier } from '../../control-plane/src/connectors/carrier-thread';
import { buildCarriers } from '../../control-plane/src/connectors/carriers-config';
import { SmppCarrier } from '../../control-plane/src/connectors/smpp-connector';
import { submission } from '../support/submissions';
import { ESME_RINVPASWD, ESME_RX_T_APPN, TestSmsc } from '../support/smsc';
import pino from 'pino';

/*
 * The SMPP connector on a thread of its own (ThreadedCarrier): the same guarantees as in process,
 * across the thread boundary. Submissions come back with the SMSC's ids; a receipt is acked only
 * once the handler on the main thread has resolved, and answered ESME_RX_T_APPN when it rejected;
 * a refused bind rejects start(); and if the thread dies, what it held fails as retryable and a
 * new thread binds again.
 */

const msg = submission;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ThreadedCarrier (the SMPP connector on its own thread)', function () {
  this.timeout(30_000);
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(smscOptions: Parameters<typeof TestSmsc.start>[0] = {}, password = 'secret') {
    const smsc = await TestSmsc.start(smscOptions);
    cleanups.push(() => smsc.stop());
    const logs: string[] = [];
    const logger = { debug: () => undefined, info: (_o: unknown, m: string) => void logs.push(m), warn: (_o: unknown, m: string) => void logs.push(m), error: (_o: unknown, m: string) => void logs.push(m) };
    const carrier = new ThreadedCarrier(
      { type: 'smpp', options: { name: 'uk', host: smsc.host, port: smsc.port, systemId: 'esme', password, reconnectInitialDelayMs: 50, reconnectMaxDelayMs: 200 } },
      logger,
    );
    cleanups.push(() => carrier.stop());
    return { smsc, carrier, logs };
  }

  it('submits through the thread and acks each receipt only after the handler here has resolved', async () => {
    const { smsc, carrier } = await setup({ receiptDelayMs: 10 });
    const receipts: DeliveryReceipt[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    carrier.onReceipt(async (r) => {
      receipts.push(r);
      await gate;
    });
    await carrier.start();
    expect(carrier.connected).to.equal(true);

    const results = await Promise.all([msg('one'), msg('two'), msg('x'.repeat(200))].map((m) => carrier.submit(m)));
    expect(results.map((r) => r.carrierMessageIds.length)).to.deep.equal([1, 1, 2]);
    expect(smsc.submits).to.have.length(4);
    await smsc.waitFor('four receipts handed over', () => receipts.length === 4);
    // Held by the handler: the SMSC has had no deliver_sm_resp yet.
    await sleep(100);
    expect(smsc.deliverResponses).to.have.length(0);
    release();
    await smsc.waitFor('four receipts acked', () => smsc.deliverResponses.length === 4);
    expect(smsc.deliverResponses.map((r) => r.commandStatus)).to.deep.equal([0, 0, 0, 0]);
    expect(new Set(receipts.map((r) => r.carrierMessageId))).to.deep.equal(new Set(results.flatMap((r) => r.carrierMessageIds)));
    expect(receipts.every((r) => r.status === 'DELIVERED' && r.final)).to.equal(true);
  });

  it('answers ESME_RX_T_APPN when the handler rejects, so the SMSC sends the receipt again', async () => {
    const { smsc, carrier } = await setup({ redeliveryDelayMs: 50 });
    let calls = 0;
    carrier.onReceipt(async () => {
      if (++calls === 1) throw new Error('database unavailable');
    });
    await carrier.start();
    await carrier.submit(msg('retry me'));
    await smsc.waitFor('second deliver_sm_resp', () => smsc.deliverResponses.length === 2);
    expect(smsc.deliverResponses.map((r) => r.commandStatus)).to.deep.equal([ESME_RX_T_APPN, 0]);
  });

  it('rejects start() with the CarrierError of a refused bind, and refuses submissions as retryable', async () => {
    const { smsc, carrier } = await setup({}, 'wrong');
    carrier.onReceipt(async () => undefined);
    const err = (await carrier.start().then(
      () => undefined,
      (e: unknown) => e,
    )) as CarrierError;
    expect(err).to.be.instanceOf(CarrierError);
    expect(err.retryable).to.equal(false);
    expect(err.commandStatus).to.equal(ESME_RINVPASWD);
    expect(smsc.binds).to.have.length(1);
    const submitErr = (await carrier.submit(msg('x')).then(
      () => undefined,
      (e: unknown) => e,
    )) as CarrierError;
    expect(submitErr).to.be.instanceOf(CarrierError);
    expect(submitErr.retryable).to.equal(true);
  });

  it('fails what a dead thread held as retryable, then binds again from a new thread', async () => {
    const { smsc, carrier, logs } = await setup({ responseDelayMs: 2000 });
    carrier.onReceipt(async () => undefined);
    await carrier.start();
    const pending = carrier.submit(msg('in flight'));
    await smsc.waitFor('the submit_sm', () => smsc.submits.length === 1);
    await (carrier as unknown as { worker: Worker }).worker.terminate();
    const err = (await pending.then(
      () => undefined,
      (e: unknown) => e,
    )) as CarrierError;
    expect(err.retryable).to.equal(true);
    expect(err.message).to.match(/thread exited/);
    await smsc.waitFor('a second bind', () => smsc.binds.length === 2, 10_000);
    await smsc.waitFor('connected again', () => carrier.connected, 5000);
    expect(logs.some((l) => /thread exited/.test(l))).to.equal(true);
  });

  it('is what CARRIERS_FILE builds for an SMPP connector, unless it says "thread": false', async () => {
    const spec = (thread?: boolean) => ({ connectors: [{ name: 'uk', type: 'smpp' as const, host: '127.0.0.1', port: 2775, systemId: 'a', passwordEnv: 'PW', ...(thread === undefined ? {} : { thread }) }] });
    const logger = pino({ level: 'silent' });
    expect(buildCarriers(spec(), { PW: 'x' }, logger).carriers.get('uk')).to.be.instanceOf(ThreadedCarrier);
    expect(buildCarriers(spec(false), { PW: 'x' }, logger).carriers.get('uk')).to.be.instanceOf(SmppCarrier);
    // Bad options fail on the main thread, with the connector's own message.
    expect(() => buildCarriers({ connectors: [{ ...spec().connectors[0]!, windowSize: 0 }] }, { PW: 'x' }, logger)).to.throw(/windowSize must be an integer >= 1/);
  });
});
