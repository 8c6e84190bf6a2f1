import { expect } from 'chai';
import FakeTimers from '@sinonjs/fake-timers';
import { doc, startTestPlatform, TestPlatform } from '../support/platform';

describe('trunk credentials', () => {
  let t: TestPlatform;
  let trunkId: string;
  beforeEach(async () => {
    t = await startTestPlatform();
    trunkId = (await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'T' }))).body.data.id;
  });
  afterEach(async () => {
    await t.stop();
  });

  const show = async () => (await t.api('GET', `/v1/sms_trunks/${trunkId}/credentials`)).body.data.attributes;
  const verify = (u: string, p: string) => t.platform.services.credentials.verify(u, p);

  it('shows a generated username and a 32-character password, and records the view', async () => {
    const res = await t.api('GET', `/v1/sms_trunks/${trunkId}/credentials`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('cache-control')).to.equal('no-store');
    const c = res.body.data.attributes;
    expect(c.username).to.match(/^out_[a-z0-9]{12}$/);
    expect(c.password).to.match(/^[A-Za-z0-9]{32}$/);
    expect(c.host).to.equal(`${t.url}/outbound_messages`);
    expect(await verify(c.username, c.password)).to.equal(trunkId);
    const audit = await t.api('GET', `/v1/audit_events?filter[action]=credentials.view&filter[resource_id]=${trunkId}`);
    expect(audit.body.meta.total).to.equal(1);
    expect(audit.text).to.not.contain(c.password);
  });

  it('stores the password encrypted, never in clear text', async () => {
    const c = await show();
    const row = await t.platform.db.knex('trunk_credentials').where({ trunk_id: trunkId }).first();
    expect(row.password_sealed).to.match(/^v1\./);
    expect(JSON.stringify(row)).to.not.contain(c.password);
  });

  it('regenerates the password at once: the old one is rejected, the username stays', async () => {
    const before = await show();
    const res = await t.api('POST', `/v1/sms_trunks/${trunkId}/credentials/regenerate`);
    expect(res.status).to.equal(200);
    const after = res.body.data.attributes;
    expect(after.username).to.equal(before.username);
    expect(after.password).to.not.equal(before.password);
    expect(await verify(before.username, before.password)).to.equal(undefined);
    expect(await verify(after.username, after.password)).to.equal(trunkId);
  });

  it('keeps the old password valid during a grace period and rejects it afterwards', async () => {
    const before = await show();
    const res = await t.api('POST', `/v1/sms_trunks/${trunkId}/credentials/regenerate`, doc('credential_regenerations', { grace_period_seconds: 2 }));
    const after = res.body.data.attributes;
    expect(after.previous_password_valid_until).to.be.a('string');
    expect(await verify(before.username, before.password)).to.equal(trunkId);
    expect(await verify(after.username, after.password)).to.equal(trunkId);
    await new Promise((r) => setTimeout(r, 2100));
    expect(await verify(before.username, before.password)).to.equal(undefined);
    expect(await verify(after.username, after.password)).to.equal(trunkId);
  });

  it('fails when the grace period is negative, fractional or over a week', async () => {
    for (const g of [-1, 1.5, 604801, '60']) {
      const res = await t.api('POST', `/v1/sms_trunks/${trunkId}/credentials/regenerate`, doc('credential_regenerations', { grace_period_seconds: g }));
      expect(res.status, String(g)).to.equal(400);
      expect(res.body.errors[0].source.pointer).to.equal('/data/attributes/grace_period_seconds');
    }
  });

  describe('share links', () => {
    const share = async (attributes: Record<string, unknown> = {}) =>
      (await t.api('POST', `/v1/sms_trunks/${trunkId}/credentials/share`, doc('share_links', attributes))).body.data.attributes;

    it('works exactly once, without an admin token, and stores only a hash of the token', async () => {
      const c = await show();
      const link = await share({ recipient: 'ops@example.com' });
      expect(link.url).to.match(new RegExp(`^${t.url}/share/shr_`));
      expect(Date.parse(link.expires_at) - Date.now()).to.be.closeTo(86400_000, 5000);
      const token = link.url.split('/').pop();
      const rows = await t.platform.db.knex('share_links').select();
      expect(JSON.stringify(rows)).to.not.contain(token);

      const page = await fetch(link.url, { headers: { accept: 'text/html' } });
      expect(page.status).to.equal(200);
      expect(await page.text()).to.contain('Reveal credentials').and.not.contain(c.password);

      const first = await fetch(link.url, { method: 'POST', headers: { accept: 'application/vnd.api+json' } });
      expect(first.status).to.equal(200);
      const body = await first.json();
      expect(body.data.attributes).to.include({ username: c.username, password: c.password });
      const second = await fetch(link.url, { method: 'POST' });
      expect(second.status).to.equal(410);
      expect((await second.json()).errors[0].code).to.equal('SHARE_LINK_USED');
      const audit = await t.api('GET', `/v1/audit_events?filter[action]=credentials.share_redeem`);
      expect(audit.body.meta.total).to.equal(1);
      expect(t.logs.join('')).to.not.contain(token);
    });

    it('lets only one of many concurrent redemptions win', async () => {
      const link = await share();
      const statuses = await Promise.all(Array.from({ length: 8 }, () => fetch(link.url, { method: 'POST' }).then((r) => r.status)));
      expect(statuses.filter((s) => s === 200)).to.have.length(1);
      expect(statuses.filter((s) => s === 410)).to.have.length(7);
    });

    it('fails after expiry', async () => {
      const link = await share({ expires_in_seconds: 60 });
      const clock = FakeTimers.install({ now: Date.now() + 61_000, toFake: ['Date'] });
      try {
        const res = await fetch(link.url, { method: 'POST' });
        expect(res.status).to.equal(410);
        expect((await res.json()).errors[0].code).to.equal('SHARE_LINK_EXPIRED');
      } finally {
        clock.uninstall();
      }
    });

    it('fails after it was revoked, and for unknown tokens', async () => {
      const created = await t.api('POST', `/v1/sms_trunks/${trunkId}/credentials/share`);
      expect((await t.api('DELETE', `/v1/share_links/${created.body.data.id}`)).status).to.equal(204);
      expect((await fetch(created.body.data.attributes.url, { method: 'POST' })).status).to.equal(410);
      expect((await fetch(`${t.url}/share/shr_unknown`, { method: 'POST' })).status).to.equal(404);
      const listed = await t.api('GET', `/v1/sms_trunks/${trunkId}/share_links`);
      expect(listed.body.data[0].attributes.revoked_at).to.be.a('string');
      expect(listed.body.data[0].attributes.url).to.equal(null);
    });

    it('fails when the expiry is out of range', async () => {
      const res = await t.api('POST', `/v1/sms_trunks/${trunkId}/credentials/share`, doc('share_links', { expires_in_seconds: 30 }));
      expect(res.status).to.equal(400);
      expect(res.body.errors[0].source.pointer).to.equal('/data/attributes/expires_in_seconds');
    });
  });
});
