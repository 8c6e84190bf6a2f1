import { expect } from 'chai';
import { doc, startTestPlatform, TestPlatform } from '../support/platform';

describe('admin authentication and the audit log', () => {
  let t: TestPlatform;
  beforeEach(async () => {
    t = await startTestPlatform();
  });
  afterEach(async () => {
    await t.stop();
  });

  for (const [what, header] of [
    ['no Authorization header', undefined],
    ['a wrong token', 'Bearer wrong-token-wrong-token'],
    ['the Basic scheme', `Basic ${Buffer.from('admin:x').toString('base64')}`],
    ['an empty bearer', 'Bearer '],
  ] as Array<[string, string | undefined]>) {
    it(`fails with 401 JSON:API errors for ${what}`, async () => {
      const res = await fetch(`${t.url}/v1/sms_trunks`, { headers: header ? { authorization: header } : {} });
      expect(res.status).to.equal(401);
      const body = await res.json();
      expect(body.errors[0].status).to.equal('401');
      expect(body.errors[0].code).to.match(/^ADMIN_TOKEN_/);
    });
  }

  it('fails with 401 before looking at the body of a write', async () => {
    const res = await fetch(`${t.url}/v1/sms_trunks`, { method: 'POST', body: 'not json', headers: { 'content-type': 'application/vnd.api+json' } });
    expect(res.status).to.equal(401);
  });

  it('creates tokens that work, are stored as hashes, and stop working when revoked', async () => {
    const created = await t.api('POST', '/v1/admin_tokens', doc('admin_tokens', { name: 'ci' }));
    expect(created.status).to.equal(201);
    const token = created.body.data.attributes.token;
    expect(token).to.match(/^sat_/);
    const rows = await t.platform.db.knex('admin_tokens').select();
    expect(JSON.stringify(rows)).to.not.contain(token);
    const ok = await fetch(`${t.url}/v1/dids`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).to.equal(200);
    const listed = await t.api('GET', '/v1/admin_tokens');
    expect(listed.text).to.not.contain(token);
    await t.api('DELETE', `/v1/admin_tokens/${created.body.data.id}`);
    const revoked = await fetch(`${t.url}/v1/dids`, { headers: { authorization: `Bearer ${token}` } });
    expect(revoked.status).to.equal(401);
  });

  it('records who changed what, with before and after, and filters by time and resource', async () => {
    const start = new Date().toISOString();
    const tr = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'T' }));
    await t.api('PATCH', `/v1/sms_trunks/${tr.body.data.id}`, doc('sms_trunks', { dlr_events: true }));
    await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: '' }));
    const res = await t.api('GET', `/v1/audit_events?filter[resource_type]=sms_trunks&filter[since]=${start}`);
    expect(res.body.meta.total).to.equal(2);
    const [update, create] = res.body.data.map((e: any) => e.attributes);
    expect(update.action).to.equal('trunk.update');
    expect(update.actor).to.equal('ADMIN_TOKEN (env)');
    expect(update.before.dlr_events).to.equal(false);
    expect(update.after.dlr_events).to.equal(true);
    expect(create.action).to.equal('trunk.create');
    const later = await t.api('GET', `/v1/audit_events?filter[since]=2999-01-01T00:00:00Z`);
    expect(later.body.meta.total).to.equal(0);
    const bad = await t.api('GET', `/v1/audit_events?filter[since]=yesterday`);
    expect(bad.status).to.equal(400);
  });

  it('serves health and readiness without a token', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).to.equal(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).to.equal(200);
    expect((await ready.json()).database).to.equal(process.env.TEST_DATABASE_URL ? 'postgres' : 'sqlite');
  });

  it('never writes the admin token or passwords to the log', async () => {
    const tr = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'T' }));
    const creds = (await t.api('GET', `/v1/sms_trunks/${tr.body.data.id}/credentials`)).body.data.attributes;
    const log = t.logs.join('');
    expect(log).to.contain('/v1/sms_trunks');
    expect(log).to.not.contain(t.token);
    expect(log).to.not.contain(creds.password);
  });
});
