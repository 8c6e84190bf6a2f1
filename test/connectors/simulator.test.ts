import { expect } from 'chai';
import { CarrierError, DeliveryReceipt, OutboundSubmission } from '../../control-plane/src/connectors/carrier';
import { SimulatorCarrier, SimulatorCarrierOptions } from '../../control-plane/src/connectors/simulator';

const msg = (destination: string, content = 'hello'): OutboundSubmission => ({
  messageId: `m-${Math.random().toString(36).slice(2)}`,
  source: '+4930123456',
  destination,
  content,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, probe: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('SimulatorCarrier', () => {
  const started: SimulatorCarrier[] = [];
  afterEach(async () => {
    for (const s of started.splice(0)) await s.stop();
  });

  async function simulator(options: SimulatorCarrierOptions = {}) {
    const sim = new SimulatorCarrier({ receiptDelayMs: 20, ...options });
    started.push(sim);
    const receipts: Array<DeliveryReceipt & { at: number }> = [];
    sim.onReceipt(async (r) => {
      receipts.push({ ...r, at: performance.now() });
    });
    await sim.start();
    return { sim, receipts };
  }

  const outcomes: Array<[string, DeliveryReceipt['status']]> = [
    ['+4915112345671', 'DELIVERED'],
    ['+4915112345670', 'UNDELIVERABLE'],
    ['+4915112345679', 'EXPIRED'],
  ];
  for (const [destination, status] of outcomes) {
    it(`sends ${status} receipts for ${destination} by the default rules`, async () => {
      const { sim, receipts } = await simulator();
      const result = await sim.submit(msg(destination));
      await until('receipt', () => receipts.length === 1);
      expect(receipts[0]).to.include({ carrierMessageId: result.carrierMessageIds[0], status, final: true });
      expect(receipts[0].raw).to.match(/^id:sim-\S+ sub:001 dlvrd:00\d submit date:\d{10} done date:\d{10} stat:[A-Z]{7} err:\d{3} text:hello$/);
    });
  }

  it('fails when the destination ends in 8: routing failed, code 105, not retryable, and no receipt', async () => {
    const { sim, receipts } = await simulator();
    const err = await sim.submit(msg('+4915112345678')).then(
      () => expect.fail('submit should have been refused'),
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(CarrierError);
    expect(err).to.include({ retryable: false, codeId: 105, message: 'Routing failed' });
    await sleep(60);
    expect(receipts).to.have.length(0);
  });

  it('applies configured rules instead of the defaults', async () => {
    const { sim, receipts } = await simulator({
      rules: [{ pattern: /^\+1/, outcome: { kind: 'receipt', status: 'REJECTED', errorCode: '011' } }],
    });
    await sim.submit(msg('+12025550100'));
    await sim.submit(msg('+4915112345670'));
    await until('two receipts', () => receipts.length === 2);
    expect(receipts.map((r) => r.status).sort()).to.deep.equal(['DELIVERED', 'REJECTED']);
  });

  it('returns one id per segment and sends one receipt per id', async () => {
    const { sim, receipts } = await simulator();
    const result = await sim.submit(msg('+4915112345671', 'x'.repeat(161)));
    expect(result.carrierMessageIds).to.have.length(2);
    expect(new Set(result.carrierMessageIds).size).to.equal(2);
    await until('two receipts', () => receipts.length === 2);
    expect(receipts.map((r) => r.carrierMessageId).sort()).to.deep.equal([...result.carrierMessageIds].sort());
  });

  it('waits receiptDelayMs before the receipt', async () => {
    const { sim, receipts } = await simulator({ receiptDelayMs: 150 });
    const submittedAt = performance.now();
    await sim.submit(msg('+4915112345671'));
    await sleep(100);
    expect(receipts, 'no receipt before the delay').to.have.length(0);
    await until('receipt', () => receipts.length === 1);
    expect(receipts[0].at - submittedAt).to.be.greaterThanOrEqual(145);
  });

  it('delays submit() by delayMs', async () => {
    const { sim } = await simulator({ delayMs: 80 });
    const t0 = performance.now();
    await sim.submit(msg('+4915112345671'));
    expect(performance.now() - t0).to.be.greaterThanOrEqual(75);
  });

  it('sends every receipt twice in duplicate mode', async () => {
    const { sim, receipts } = await simulator({ duplicateReceipts: true });
    const result = await sim.submit(msg('+4915112345671'));
    await until('two receipts', () => receipts.length === 2);
    await sleep(40);
    expect(receipts.map((r) => r.carrierMessageId)).to.deep.equal([result.carrierMessageIds[0], result.carrierMessageIds[0]]);
  });

  it('delivers receipts out of submission order in reorder mode', async () => {
    // Delays 2×100×random: 180, 20, 100 ms, so the second message's receipt comes first.
    const draws = [0.9, 0.1, 0.5];
    const { sim, receipts } = await simulator({ reorder: true, receiptDelayMs: 100, random: () => draws.shift() ?? 0 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await sim.submit(msg('+4915112345671'))).carrierMessageIds[0]);
    await until('three receipts', () => receipts.length === 3);
    expect(receipts.map((r) => r.carrierMessageId)).to.deep.equal([ids[1], ids[2], ids[0]]);
  });

  it('pushes a receipt again after the handler rejected it', async () => {
    const sim = new SimulatorCarrier({ receiptDelayMs: 10, redeliveryDelayMs: 30 });
    started.push(sim);
    let calls = 0;
    sim.onReceipt(async () => {
      calls++;
      if (calls < 3) throw new Error('not now');
    });
    await sim.start();
    await sim.submit(msg('+4915112345671'));
    await until('third push', () => calls === 3);
    await sleep(80);
    expect(calls, 'no push after one succeeded').to.equal(3);
  });

  it('cancels pending receipts on stop()', async () => {
    const { sim, receipts } = await simulator({ receiptDelayMs: 50 });
    await sim.submit(msg('+4915112345671'));
    await sim.stop();
    await sleep(100);
    expect(receipts).to.have.length(0);
    expect(sim.connected).to.equal(false);
  });

  it('fails when stopped during delayMs: the submit rejects as retryable instead of hanging', async () => {
    const { sim } = await simulator({ delayMs: 5000 });
    const pending = sim.submit(msg('+4915112345671'));
    await sim.stop();
    const err = await pending.then(
      () => expect.fail('submit should have been rejected'),
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(CarrierError);
    expect(err).to.include({ retryable: true });
  });
});
