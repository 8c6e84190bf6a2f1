import { expect } from 'chai';
import { CallbackOutbox } from '../../control-plane/src/callbacks/outbox';
import { MessageStore } from '../../control-plane/src/sending/message-store';
import { ChangeFeed } from '../../control-plane/src/shared/changes';
import { TrunkAccess } from '../../control-plane/src/trunks/trunk-access';
import { doc, startTestPlatform, TestPlatform } from '../support/platform';
import { basic, bulk, sendSms } from '../support/send-client';

/*
 * A carrier may push the delivery receipt before the platform has committed the submit outcome
 * that maps the carrier's id to our message (fast SMSCs do, for refusals especially). The receipt
 * is parked and applied when the outcome commits. On PostgreSQL both run in concurrent
 * transactions; if neither sees the other's rows the receipt stays parked forever and the message
 * never gets its final status or DLR event. The crash suite found this under load; this is the
 * deterministic version: receipts after 0 ms, hundreds of messages at once.
 */

const SOURCE = '12125551234';

describe('reliability: receipts that overtake their submit acknowledgement', function () {
  this.timeout(60_000);
  let t: TestPlatform;
  afterEach(async () => {
    await t?.stop();
  });

  it('are all applied: every message ends final and no receipt stays parked', async () => {
    const started = Date.now();
    t = await startTestPlatform({ SIMULATOR_RECEIPT_DELAY_MS: '0' });
    await t.api('POST', '/v1/dids', doc('dids', { number: SOURCE }));
    const tr = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Fast carrier', dlr_events: true }));
    const c = (await t.api('GET', `/v1/sms_trunks/${tr.body.data.id}/credentials`)).body.data.attributes;
    const auth = basic(c.username, c.password);
    // 40 bulk requests of 10 at once; destinations end in 0-9, so every outcome and receipt kind is in the mix.
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, r) =>
        sendSms(t.url, auth, bulk({ destination: Array.from({ length: 10 }, (_, i) => `1555${String(100_000 + r)}${i}`), source: SOURCE, content: r % 4 === 0 ? 'y'.repeat(200) : 'fast' }), { path: '/bulk_outbound_messages' }),
      ),
    );
    expect(answers.map((a) => a.status)).to.deep.equal(answers.map(() => 201));
    const knex = t.platform.db.knex;
    let open = -1;
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      const [{ n }] = await knex('messages').whereIn('status', ['accepted', 'submitted']).count({ n: '*' });
      open = Number(n);
      if (open === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const [{ n: parked }] = await knex('pending_receipts').count({ n: '*' });
    const [{ n: total }] = await knex('messages').count({ n: '*' });
    // eslint-disable-next-line no-console
    console.log(`      receipt-race[${t.platform.db.dialect}]: messages=${total} final=${Number(total) - open} parked=${parked} elapsed=${((Date.now() - started) / 1000).toFixed(1)}s`);
    expect(open, 'messages still waiting for a receipt that already came').to.equal(0);
    expect(Number(parked), 'receipts left parked').to.equal(0);
  });

  it('count the copies of one receipt parked by separate batches, in one row', async () => {
    // The store runs here, on this thread's connection (with the store thread it runs there).
    t = await startTestPlatform({ WORKERS: 'false', STORE_THREAD: 'false' });
    const knex = t.platform.db.knex;
    const store = new MessageStore(new CallbackOutbox(() => 60_000), new TrunkAccess(knex, new ChangeFeed()));
    const copy = { connector: 'smsc-a', receipt: { carrierMessageId: 'NOT-YET-KNOWN', status: 'DELIVRD' as const, final: true } };
    // Two copies in one batch, then one more in a batch of its own (the row exists by then).
    await knex.transaction((trx) => store.applyReceipts(trx, [copy, copy], true));
    await knex.transaction((trx) => store.applyReceipts(trx, [copy], true));
    const rows = await knex('pending_receipts').select('carrier_message_id', 'status', 'copies');
    expect(rows.map((r) => ({ ...r, copies: Number(r.copies) }))).to.deep.equal([{ carrier_message_id: 'NOT-YET-KNOWN', status: 'DELIVRD', copies: 3 }]);
  });
});
