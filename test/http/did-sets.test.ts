import { expect } from 'chai';
import { doc, rel, startTestPlatform, TestPlatform } from '../support/platform';

describe('source-DID sets API', () => {
  let t: TestPlatform;
  beforeEach(async () => {
    t = await startTestPlatform();
    for (const n of ['12125551001', '12125551002', '12125551003']) await t.api('POST', '/v1/dids', doc('dids', { number: n }));
    await t.api('POST', '/v1/dids', doc('dids', { number: '12125559999', capabilities: ['voice_in'] }));
  });
  afterEach(async () => {
    await t.stop();
  });

  const set = (name: string | undefined, dids: string[]) => doc('did_sets', name === undefined ? {} : { name }, { dids: rel('dids', dids) });

  it('creates a set, replaces its membership with one PATCH and bumps the version', async () => {
    const created = await t.api('POST', '/v1/did_sets', set('nyc', ['12125551001', '12125551002']));
    expect(created.status).to.equal(201);
    expect(created.body.data.attributes).to.include({ name: 'nyc', did_count: 2, version: 1 });
    const id = created.body.data.id;
    const patched = await t.api('PATCH', `/v1/did_sets/${id}`, set(undefined, ['12125551003']), { 'if-match': '"1"' });
    expect(patched.status).to.equal(200);
    expect(patched.body.data.relationships.dids.data).to.deep.equal([{ type: 'dids', id: '12125551003' }]);
    expect(patched.body.data.attributes.version).to.equal(2);
    const stale = await t.api('PATCH', `/v1/did_sets/${id}`, set('renamed', []), { 'if-match': '"1"' });
    expect(stale.status).to.equal(412);
  });

  it('fails when a member does not exist or lacks sms_out, pointing at it, and writes nothing', async () => {
    const res = await t.api('POST', '/v1/did_sets', set('bad', ['12125551001', '12125559999', '15550000000']));
    expect(res.status).to.equal(422);
    expect(res.body.errors.map((e: any) => [e.code, e.source.pointer])).to.deep.equal([
      ['DID_NOT_SMS_OUT', '/data/relationships/dids/data/1'],
      ['DID_NOT_FOUND', '/data/relationships/dids/data/2'],
    ]);
    expect((await t.api('GET', '/v1/did_sets')).body.meta.total).to.equal(0);
  });

  it('fails with 409 on a duplicate name', async () => {
    await t.api('POST', '/v1/did_sets', set('nyc', []));
    const dup = await t.api('POST', '/v1/did_sets', set('nyc', []));
    expect(dup.status).to.equal(409);
    expect(dup.body.errors[0].code).to.equal('DID_SET_NAME_TAKEN');
  });

  it('upserts by name idempotently', async () => {
    const a = await t.api('PUT', '/v1/did_sets/by-name/eu', set(undefined, ['12125551001']));
    expect(a.status).to.equal(201);
    const b = await t.api('PUT', '/v1/did_sets/by-name/eu', set(undefined, ['12125551001']));
    expect(b.status).to.equal(200);
    expect(b.body.meta).to.deep.equal({ changed: false, created: false, version: 1 });
    const c = await t.api('PUT', '/v1/did_sets/by-name/eu', set(undefined, ['12125551001', '12125551002']));
    expect(c.body.meta).to.deep.equal({ changed: true, created: false, version: 2 });
  });

  it('fails with 409 when a set used by a trunk is deleted, and deletes it once unused', async () => {
    const s = await t.api('POST', '/v1/did_sets', set('nyc', ['12125551001']));
    const tr = await t.api(
      'POST',
      '/v1/sms_trunks',
      doc('sms_trunks', { name: 'T', allow_any_did_as_source: false }, { outgoing_did_sets: rel('did_sets', [s.body.data.id]) }),
    );
    const refused = await t.api('DELETE', `/v1/did_sets/${s.body.data.id}`);
    expect(refused.status).to.equal(409);
    expect(refused.body.errors[0].code).to.equal('DID_SET_IN_USE');
    expect(refused.body.errors[0].meta.used_by[0]).to.include({ id: tr.body.data.id, name: 'T' });
    await t.api('DELETE', `/v1/sms_trunks/${tr.body.data.id}`);
    expect((await t.api('DELETE', `/v1/did_sets/${s.body.data.id}`)).status).to.equal(204);
  });
});
