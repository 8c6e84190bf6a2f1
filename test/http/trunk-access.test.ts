import { expect } from 'chai';
import { doc, rel, startTestPlatform, TestPlatform } from '../support/platform';

describe('trunk access helper (may this trunk send from DID X, from client IP Y?)', () => {
  let t: TestPlatform;
  beforeEach(async () => {
    t = await startTestPlatform();
    for (const n of ['12125551001', '12125551002', '12125551003']) await t.api('POST', '/v1/dids', doc('dids', { number: n }));
  });
  afterEach(async () => {
    await t.stop();
  });
  const check = (id: string, q: { clientIp?: string; source?: string }) => t.platform.services.access.check(id, q);

  it('allows every SMS-OUT DID in any-DID mode, including DIDs added later', async () => {
    const id = (await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Any' }))).body.data.id;
    expect((await check(id, { source: '12125551001' })).sourceAllowed).to.equal(true);
    expect((await check(id, { source: '19998887777' })).sourceAllowed).to.equal(false);
    await t.api('POST', '/v1/dids', doc('dids', { number: '19998887777' }));
    expect((await check(id, { source: '19998887777' })).sourceAllowed).to.equal(true);
    await t.api('POST', '/v1/dids', doc('dids', { number: '19998887778', capabilities: ['voice_in'] }));
    expect((await check(id, { source: '19998887778' })).sourceAllowed).to.equal(false);
  });

  it('allows only picked DIDs and members of picked sets, following set changes', async () => {
    const set = await t.api('POST', '/v1/did_sets', doc('did_sets', { name: 's' }, { dids: rel('dids', ['12125551002']) }));
    const id = (
      await t.api(
        'POST',
        '/v1/sms_trunks',
        doc('sms_trunks', { name: 'Picked', allow_any_did_as_source: false }, { outgoing_dids: rel('dids', ['12125551001']), outgoing_did_sets: rel('did_sets', [set.body.data.id]) }),
      )
    ).body.data.id;
    expect((await check(id, { source: '12125551001' })).sourceAllowed).to.equal(true);
    expect((await check(id, { source: '12125551002' })).sourceAllowed).to.equal(true);
    expect((await check(id, { source: '12125551003' })).sourceAllowed).to.equal(false);
    await t.api('PATCH', `/v1/did_sets/${set.body.data.id}`, doc('did_sets', {}, { dids: rel('dids', ['12125551003']) }));
    expect((await check(id, { source: '12125551002' })).sourceAllowed).to.equal(false);
    expect((await check(id, { source: '12125551003' })).sourceAllowed).to.equal(true);
  });

  it('matches client IPs against IPv4 and IPv6 entries, with IPv4-mapped clients matching IPv4 entries', async () => {
    const id = (await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'IPs', allowed_ips: ['127.0.0.2/32', '2001:db8:1::/64'] }))).body.data.id;
    expect((await check(id, { clientIp: '127.0.0.2' })).ipAllowed).to.equal(true);
    expect((await check(id, { clientIp: '::ffff:127.0.0.2' })).ipAllowed).to.equal(true);
    expect((await check(id, { clientIp: '127.0.0.1' })).ipAllowed).to.equal(false);
    expect((await check(id, { clientIp: '2001:db8:1::99' })).ipAllowed).to.equal(true);
    expect((await check(id, { clientIp: '::1' })).ipAllowed).to.equal(false);
    expect((await check(id, { clientIp: undefined })).ipAllowed).to.equal(false);
    await t.api('PATCH', `/v1/sms_trunks/${id}`, doc('sms_trunks', { allowed_ips: [] }));
    expect((await check(id, { clientIp: '127.0.0.1' })).ipAllowed).to.equal(true);
  });

  it('reports unknown trunks as not existing', async () => {
    expect(await check('missing', { clientIp: '127.0.0.1', source: '12125551001' })).to.deep.equal({ exists: false, ipAllowed: false, sourceAllowed: false });
  });
});
