import { expect } from 'chai';
import { doc, rel, startTestPlatform, TestPlatform } from '../support/platform';

describe('resources managed by code', () => {
  let t: TestPlatform;
  beforeEach(async () => {
    t = await startTestPlatform();
    await t.api('POST', '/v1/dids', doc('dids', { number: '12125551001' }));
  });
  afterEach(async () => {
    await t.stop();
  });

  const apply = (hash: string, extra: Record<string, unknown> = {}, query = '') =>
    t.api('PUT', `/v1/sms_trunks/by-external-reference/stack%2Fapp${query}`, doc('sms_trunks', { name: 'App', managed_by: 'cdktf:prod', managed_spec_hash: hash, ...extra }));

  it('refuses manual edits and deletes of a managed trunk unless forced, and records forced edits', async () => {
    const created = await apply('h1');
    const id = created.body.data.id;
    expect(created.body.data.attributes).to.include({ managed_by: 'cdktf:prod', managed_spec_hash: 'h1' });
    const edit = await t.api('PATCH', `/v1/sms_trunks/${id}`, doc('sms_trunks', { blocked: true }));
    expect(edit.status).to.equal(409);
    expect(edit.body.errors[0].code).to.equal('TRUNK_MANAGED');
    expect(edit.body.errors[0].detail).to.contain('cdktf:prod').and.contain('force=true');
    expect((await t.api('DELETE', `/v1/sms_trunks/${id}`)).status).to.equal(409);
    const forced = await t.api('PATCH', `/v1/sms_trunks/${id}?force=true`, doc('sms_trunks', { blocked: true }));
    expect(forced.status).to.equal(200);
    const audit = await t.api('GET', `/v1/audit_events?filter[action]=trunk.update_forced`);
    expect(audit.body.meta.total).to.equal(1);
    // The owning stack re-applies its spec and takes the trunk back.
    const reapplied = await apply('h1');
    expect(reapplied.body.meta.changed).to.equal(true);
    expect(reapplied.body.data.attributes.blocked).to.equal(false);
  });

  it('refuses another stack taking over a managed trunk unless forced', async () => {
    await apply('h1');
    const other = await t.api('PUT', '/v1/sms_trunks/by-external-reference/stack%2Fapp', doc('sms_trunks', { name: 'App', managed_by: 'cdktf:other', managed_spec_hash: 'x' }));
    expect(other.status).to.equal(409);
  });

  it('deletes by external reference only while the live trunk carries the given spec hash', async () => {
    await apply('h1');
    await apply('h2', { dlr_events: true });
    const stale = await t.api('DELETE', '/v1/sms_trunks/by-external-reference/stack%2Fapp?if_managed_spec_hash=h1');
    expect(stale.status).to.equal(200);
    expect(stale.body.meta).to.deep.equal({ deleted: false, reason: 'spec_changed' });
    expect((await t.api('GET', '/v1/sms_trunks?filter[external_reference_id]=stack%2Fapp')).body.meta.total).to.equal(1);
    const current = await t.api('DELETE', '/v1/sms_trunks/by-external-reference/stack%2Fapp?if_managed_spec_hash=h2');
    expect(current.body.meta.deleted).to.equal(true);
    const again = await t.api('DELETE', '/v1/sms_trunks/by-external-reference/stack%2Fapp?if_managed_spec_hash=h2');
    expect(again.body.meta).to.deep.equal({ deleted: false, reason: 'not_found' });
  });

  it('protects managed source-DID sets the same way', async () => {
    const set = await t.api('PUT', '/v1/did_sets/by-name/us', doc('did_sets', { managed_by: 'cdktf:prod', managed_spec_hash: 's1' }, { dids: rel('dids', ['12125551001']) }));
    expect(set.status).to.equal(201);
    expect((await t.api('PATCH', `/v1/did_sets/${set.body.data.id}`, doc('did_sets', {}, { dids: rel('dids', []) }))).status).to.equal(409);
    expect((await t.api('DELETE', '/v1/did_sets/by-name/us?if_managed_spec_hash=zz')).body.meta.deleted).to.equal(false);
    expect((await t.api('DELETE', '/v1/did_sets/by-name/us?if_managed_spec_hash=s1')).body.meta.deleted).to.equal(true);
  });
});
