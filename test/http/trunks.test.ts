import { expect } from 'chai';
import { doc, rel, startTestPlatform, TestPlatform } from '../support/platform';

describe('SMS trunks API', () => {
  let t: TestPlatform;
  beforeEach(async () => {
    t = await startTestPlatform();
    for (const n of ['12125551001', '12125551002', '12125551003']) await t.api('POST', '/v1/dids', doc('dids', { number: n }));
    await t.api('POST', '/v1/dids', doc('dids', { number: '12125559999', capabilities: ['voice_in'] }));
  });
  afterEach(async () => {
    await t.stop();
  });

  const trunk = (attributes: Record<string, unknown>, relationships?: Record<string, unknown>) => doc('sms_trunks', attributes, relationships);
  const countTrunks = async () => (await t.api('GET', '/v1/sms_trunks')).body.meta.total as number;

  it('creates a trunk with the panel defaults: any SMS-OUT DID, no DLR events, not blocked, all IPs', async () => {
    const res = await t.api('POST', '/v1/sms_trunks', trunk({ name: '  Outbound SMS trunk 1  ' }));
    expect(res.status).to.equal(201);
    expect(res.headers.get('location')).to.equal(`/v1/sms_trunks/${res.body.data.id}`);
    expect(res.headers.get('etag')).to.equal('"1"');
    const a = res.body.data.attributes;
    expect(a).to.include({ name: 'Outbound SMS trunk 1', allow_any_did_as_source: true, dlr_events: false, blocked: false, callback_url: null, version: 1 });
    expect(a.allowed_ips).to.deep.equal([]);
    expect(a.username).to.match(/^out_[a-z0-9]{12}$/);
    expect(res.body.data.meta.host).to.equal(`${t.url}/outbound_messages`);
  });

  it('stores canonical, de-duplicated CIDRs for IPv4, IPv6 and IPv4-mapped entries', async () => {
    const res = await t.api('POST', '/v1/sms_trunks', trunk({ name: 'T', allowed_ips: ['203.0.113.7', '2001:DB8:0::/64', '::ffff:203.0.113.7', '198.51.100.0/24'] }));
    expect(res.status).to.equal(201);
    expect(res.body.data.attributes.allowed_ips).to.deep.equal(['203.0.113.7/32', '2001:db8::/64', '198.51.100.0/24']);
  });

  const invalid: Array<[string, Record<string, unknown>, string, string]> = [
    ['the name is missing', {}, 'NAME_INVALID', '/data/attributes/name'],
    ['the name is blank', { name: '   ' }, 'NAME_INVALID', '/data/attributes/name'],
    ['the name is 101 characters', { name: 'x'.repeat(101) }, 'NAME_INVALID', '/data/attributes/name'],
    ['the name is not a string', { name: 42 }, 'NAME_INVALID', '/data/attributes/name'],
    ['the callback URL is relative', { name: 'T', callback_url: '/cb' }, 'CALLBACK_URL_INVALID', '/data/attributes/callback_url'],
    ['the callback URL is ftp', { name: 'T', callback_url: 'ftp://example.com/x' }, 'CALLBACK_URL_INVALID', '/data/attributes/callback_url'],
    ['the callback URL has user info', { name: 'T', callback_url: 'https://u:p@example.com/x' }, 'CALLBACK_URL_INVALID', '/data/attributes/callback_url'],
    ['the callback URL is too long', { name: 'T', callback_url: `https://example.com/${'a'.repeat(2040)}` }, 'CALLBACK_URL_INVALID', '/data/attributes/callback_url'],
    ['an IPv4 mask is /33', { name: 'T', allowed_ips: ['10.0.0.0/8', '1.2.3.4/33'] }, 'ALLOWED_IP_INVALID', '/data/attributes/allowed_ips/1'],
    ['an IPv6 mask is /129', { name: 'T', allowed_ips: ['2001:db8::/129'] }, 'ALLOWED_IP_INVALID', '/data/attributes/allowed_ips/0'],
    ['an entry has host bits', { name: 'T', allowed_ips: ['10.1.2.3/8'] }, 'ALLOWED_IP_INVALID', '/data/attributes/allowed_ips/0'],
    ['an entry is garbage', { name: 'T', allowed_ips: ['1.1.1.1', 'bogus'] }, 'ALLOWED_IP_INVALID', '/data/attributes/allowed_ips/1'],
    ['an entry mixes forms', { name: 'T', allowed_ips: ['1.2.3.4/ffff::'] }, 'ALLOWED_IP_INVALID', '/data/attributes/allowed_ips/0'],
    ['an entry is not a string', { name: 'T', allowed_ips: [3] }, 'ALLOWED_IP_INVALID', '/data/attributes/allowed_ips/0'],
    ['allowed_ips is a string', { name: 'T', allowed_ips: '10.0.0.0/8' }, 'ALLOWED_IPS_INVALID', '/data/attributes/allowed_ips'],
    ['allowed_ips has 101 entries', { name: 'T', allowed_ips: Array.from({ length: 101 }, (_, i) => `10.0.${i}.0/24`) }, 'ALLOWED_IPS_TOO_MANY', '/data/attributes/allowed_ips'],
    ['dlr_events is a string', { name: 'T', dlr_events: 'yes' }, 'BOOLEAN_INVALID', '/data/attributes/dlr_events'],
    ['an attribute is unknown', { name: 'T', colour: 'red' }, 'ATTRIBUTE_UNKNOWN', '/data/attributes/colour'],
    ['any-DID is off and no source is named', { name: 'T', allow_any_did_as_source: false }, 'SOURCE_SETTINGS_EMPTY', '/data/attributes/allow_any_did_as_source'],
  ];
  for (const [what, attributes, code, pointer] of invalid) {
    it(`fails when ${what}, with a pointer and no trunk written`, async () => {
      const res = await t.api('POST', '/v1/sms_trunks', trunk(attributes));
      expect(res.status).to.equal(400);
      expect(res.body.errors[0]).to.include({ status: '400', code });
      expect(res.body.errors[0].source.pointer).to.equal(pointer);
      expect(await countTrunks()).to.equal(0);
    });
  }

  it('fails when the document type is wrong, saying "type is invalid"', async () => {
    const res = await t.api('POST', '/v1/sms_trunks', doc('trunks', { name: 'T' }));
    expect(res.status).to.equal(400);
    expect(res.body.errors[0].detail).to.match(/^type is invalid/);
    expect(res.body.errors[0].source.pointer).to.equal('/data/type');
  });

  it('fails with 400 for malformed JSON and 415 for another content type', async () => {
    const bad = await t.api('POST', '/v1/sms_trunks', '{"data":', { 'content-type': 'application/vnd.api+json' });
    expect(bad.status).to.equal(400);
    expect(bad.body.errors[0].code).to.equal('JSON_INVALID');
    const form = await t.api('POST', '/v1/sms_trunks', 'name=T', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).to.equal(415);
    const param = await t.api('POST', '/v1/sms_trunks', JSON.stringify(trunk({ name: 'T' })), { 'content-type': 'application/vnd.api+json; ext=bulk' });
    expect(param.status).to.equal(415);
    expect(await countTrunks()).to.equal(0);
  });

  it('allows picked DIDs and sets when any-DID is off, and rejects unknown or non-SMS DIDs with a pointer', async () => {
    const set = await t.api('POST', '/v1/did_sets', doc('did_sets', { name: 'nyc' }, { dids: rel('dids', ['12125551002']) }));
    const ok = await t.api(
      'POST',
      '/v1/sms_trunks',
      trunk({ name: 'Picked', allow_any_did_as_source: false }, { outgoing_dids: rel('dids', ['12125551001']), outgoing_did_sets: rel('did_sets', [set.body.data.id]) }),
    );
    expect(ok.status).to.equal(201);
    const bad = await t.api(
      'POST',
      '/v1/sms_trunks',
      trunk({ name: 'Bad', allow_any_did_as_source: false }, { outgoing_dids: rel('dids', ['12125551001', '19999999999', '12125559999']) }),
    );
    expect(bad.status).to.equal(422);
    expect(bad.body.errors.map((e: any) => [e.code, e.source.pointer])).to.deep.equal([
      ['DID_NOT_FOUND', '/data/relationships/outgoing_dids/data/1'],
      ['DID_NOT_SMS_OUT', '/data/relationships/outgoing_dids/data/2'],
    ]);
    const conflictDoc = await t.api('POST', '/v1/sms_trunks', trunk({ name: 'Both' }, { outgoing_dids: rel('dids', ['12125551001']) }));
    expect(conflictDoc.status).to.equal(400);
    expect(conflictDoc.body.errors[0].code).to.equal('SOURCE_SETTINGS_CONFLICT');
    expect(await countTrunks()).to.equal(1);
  });

  it('fails with 409 TRUNK_NAME_TAKEN on a duplicate name, on create and on rename', async () => {
    await t.api('POST', '/v1/sms_trunks', trunk({ name: 'A' }));
    const b = await t.api('POST', '/v1/sms_trunks', trunk({ name: 'B' }));
    const dup = await t.api('POST', '/v1/sms_trunks', trunk({ name: ' A ' }));
    expect(dup.status).to.equal(409);
    expect(dup.body.errors[0]).to.include({ code: 'TRUNK_NAME_TAKEN' });
    expect(dup.body.errors[0].source.pointer).to.equal('/data/attributes/name');
    const rename = await t.api('PATCH', `/v1/sms_trunks/${b.body.data.id}`, trunk({ name: 'A' }));
    expect(rename.status).to.equal(409);
    expect((await t.api('GET', `/v1/sms_trunks/${b.body.data.id}`)).body.data.attributes.name).to.equal('B');
  });

  it('updates partially, bumps the version on change only, and honours If-Match', async () => {
    const created = await t.api('POST', '/v1/sms_trunks', trunk({ name: 'T', allowed_ips: ['10.0.0.0/8'] }));
    const id = created.body.data.id;
    const patched = await t.api('PATCH', `/v1/sms_trunks/${id}`, trunk({ callback_url: 'https://example.com/cb' }), { 'if-match': '"1"' });
    expect(patched.status).to.equal(200);
    expect(patched.body.data.attributes).to.include({ version: 2, callback_url: 'https://example.com/cb' });
    expect(patched.body.data.attributes.allowed_ips).to.deep.equal(['10.0.0.0/8']);
    expect(patched.headers.get('etag')).to.equal('"2"');

    const same = await t.api('PATCH', `/v1/sms_trunks/${id}`, trunk({ callback_url: 'https://example.com/cb' }));
    expect(same.body.data.attributes.version).to.equal(2);

    const stale = await t.api('PATCH', `/v1/sms_trunks/${id}`, trunk({ blocked: true }), { 'if-match': '"1"' });
    expect(stale.status).to.equal(412);
    expect(stale.body.errors[0].code).to.equal('VERSION_MISMATCH');
    expect((await t.api('GET', `/v1/sms_trunks/${id}`)).body.data.attributes.blocked).to.equal(false);

    const staleDelete = await t.api('DELETE', `/v1/sms_trunks/${id}`, undefined, { 'if-match': '"1"' });
    expect(staleDelete.status).to.equal(412);
    expect((await t.api('DELETE', `/v1/sms_trunks/${id}`, undefined, { 'if-match': 'W/"2"' })).status).to.equal(204);
    expect((await t.api('GET', `/v1/sms_trunks/${id}`)).status).to.equal(404);
  });

  it('switching a trunk to any-DID clears its picked lists', async () => {
    const created = await t.api('POST', '/v1/sms_trunks', trunk({ name: 'T', allow_any_did_as_source: false }, { outgoing_dids: rel('dids', ['12125551001']) }));
    const res = await t.api('PATCH', `/v1/sms_trunks/${created.body.data.id}`, trunk({ allow_any_did_as_source: true }));
    expect(res.status).to.equal(200);
    expect(res.body.data.relationships.outgoing_dids.data).to.deep.equal([]);
  });

  describe('idempotent upsert by name', () => {
    const spec = (extra: Record<string, unknown> = {}) =>
      trunk({ callback_url: 'https://example.com/cb', allowed_ips: ['2001:db8::/64'], dlr_events: true, ...extra });

    it('creates with 201, then the same spec gives 200 with the same version and changed=false', async () => {
      const first = await t.api('PUT', '/v1/sms_trunks/by-name/Marketing', spec());
      expect(first.status).to.equal(201);
      expect(first.body.meta).to.deep.equal({ changed: true, created: true, version: 1 });
      const second = await t.api('PUT', '/v1/sms_trunks/by-name/Marketing', spec());
      expect(second.status).to.equal(200);
      expect(second.body.meta).to.deep.equal({ changed: false, created: false, version: 1 });
      expect(second.body.data.id).to.equal(first.body.data.id);
      const third = await t.api('PUT', '/v1/sms_trunks/by-name/Marketing', spec({ dlr_events: false }));
      expect(third.body.meta).to.deep.equal({ changed: true, created: false, version: 2 });
      const audit = await t.api('GET', `/v1/audit_events?filter[resource_id]=${first.body.data.id}`);
      expect(audit.body.data.map((e: any) => e.attributes.action)).to.deep.equal(['trunk.update', 'trunk.create']);
    });

    it('treats absent members as defaults, so a full spec replaces what was there', async () => {
      await t.api('PUT', '/v1/sms_trunks/by-name/M', spec({ blocked: true }));
      const res = await t.api('PUT', '/v1/sms_trunks/by-name/M', trunk({}));
      expect(res.body.data.attributes).to.include({ blocked: false, dlr_events: false, callback_url: null });
    });

    it('fails when the body names another trunk than the URL', async () => {
      const res = await t.api('PUT', '/v1/sms_trunks/by-name/M', trunk({ name: 'Other' }));
      expect(res.status).to.equal(400);
      expect(res.body.errors[0].code).to.equal('KEY_MISMATCH');
    });

    it('keys by external reference so a rename updates the same trunk and keeps its username', async () => {
      const first = await t.api('PUT', '/v1/sms_trunks/by-external-reference/stack%2Ftrunk-a', trunk({ name: 'Old name' }));
      expect(first.status).to.equal(201);
      const renamed = await t.api('PUT', '/v1/sms_trunks/by-external-reference/stack%2Ftrunk-a', trunk({ name: 'New name' }));
      expect(renamed.status).to.equal(200);
      expect(renamed.body.data.id).to.equal(first.body.data.id);
      expect(renamed.body.data.attributes).to.include({ name: 'New name', external_reference_id: 'stack/trunk-a', username: first.body.data.attributes.username });
      const list = await t.api('GET', '/v1/sms_trunks?filter[external_reference_id]=stack%2Ftrunk-a');
      expect(list.body.meta.total).to.equal(1);
    });
  });

  it('lists with search, sorting and pagination', async () => {
    for (const name of ['Alpha', 'beta', 'Gamma', 'alphabet']) await t.api('POST', '/v1/sms_trunks', trunk({ name }));
    const res = await t.api('GET', '/v1/sms_trunks?filter[q]=ALPHA&sort=-name');
    expect(res.body.data.map((x: any) => x.attributes.name)).to.deep.equal(['alphabet', 'Alpha']);
    const bad = await t.api('GET', '/v1/sms_trunks?sort=password');
    expect(bad.status).to.equal(400);
  });

  it('fails with 404 for unknown ids and routes', async () => {
    expect((await t.api('GET', '/v1/sms_trunks/nope')).body.errors[0].code).to.equal('TRUNK_NOT_FOUND');
    expect((await t.api('GET', '/v1/nothing-here')).status).to.equal(404);
  });
});
