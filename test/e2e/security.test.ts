import { expect } from 'chai';
import { doc, startTestPlatform, TestPlatform } from '../support/platform';
import { basic, request, sendSms, single } from '../support/send-client';

describe('security: brute-force protection and metrics', function () {
  this.timeout(30_000);
  let t: TestPlatform;
  let auth: string;
  let username: string;
  beforeEach(async () => {
    t = await startTestPlatform({ AUTH_MAX_FAILURES_PER_IP: '5', AUTH_MAX_FAILURES_PER_USERNAME: '8', AUTH_BLOCK_SECONDS: '60', AUTH_FAILURE_WINDOW_SECONDS: '60' });
    await t.api('POST', '/v1/dids', doc('dids', { number: '12125551234' }));
    const tr = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'App' }));
    const c = (await t.api('GET', `/v1/sms_trunks/${tr.body.data.id}/credentials`)).body.data.attributes;
    username = c.username;
    auth = basic(c.username, c.password);
  });
  afterEach(async () => {
    await t.stop();
  });
  const body = single({ destination: '15551234567', source: '12125551234', content: 'x' });

  it('blocks a client IP after too many failed Basic logins with a clear 429, while other IPs keep working', async () => {
    for (let i = 0; i < 5; i++) expect((await sendSms(t.url, basic('out_guess', `p${i}`), body, { localAddress: '127.0.0.7' })).status).to.equal(401);
    const blocked = await sendSms(t.url, auth, body, { localAddress: '127.0.0.7' });
    expect(blocked.status).to.equal(429);
    expect(blocked.body.errors[0].code).to.equal('TOO_MANY_AUTH_FAILURES');
    expect(Number(blocked.headers['retry-after'])).to.be.within(1, 60);
    expect((await sendSms(t.url, auth, body, { localAddress: '127.0.0.8' })).status).to.equal(201);
  });

  it('blocks a username guessed from many IPs', async () => {
    for (let i = 0; i < 8; i++) expect((await sendSms(t.url, basic(username, `wrong${i}`), body, { localAddress: `127.0.1.${i + 1}` })).status).to.equal(401);
    const blocked = await sendSms(t.url, auth, body, { localAddress: '127.0.2.1' });
    expect(blocked.status).to.equal(429);
    expect(blocked.body.errors[0].detail).to.contain('username');
  });

  it('blocks admin token guessing per client IP', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await request(`${t.url}/v1/dids`, { headers: { authorization: `Bearer guess-${i}` }, localAddress: '127.0.0.9' });
      expect(r.status).to.equal(401);
    }
    const blocked = await request(`${t.url}/v1/dids`, { headers: { authorization: `Bearer ${t.token}` }, localAddress: '127.0.0.9' });
    expect(blocked.status).to.equal(429);
    const other = await request(`${t.url}/v1/dids`, { headers: { authorization: `Bearer ${t.token}` }, localAddress: '127.0.0.10' });
    expect(other.status).to.equal(200);
  });

  it('never logs passwords or tokens, even of failed attempts', async () => {
    await sendSms(t.url, auth, body);
    await sendSms(t.url, basic(username, 'a-wrong-password-123'), body);
    await request(`${t.url}/v1/dids`, { headers: { authorization: 'Bearer a-wrong-token-456' } });
    const log = t.logs.join('');
    expect(log).to.contain('/outbound_messages');
    for (const secret of [t.token, Buffer.from(auth.slice(6), 'base64').toString().split(':')[1]!, 'a-wrong-password-123', 'a-wrong-token-456', auth.slice(6)]) {
      expect(log).to.not.contain(secret);
    }
  });

  it('exposes Prometheus metrics: submissions by result and reason, queue depths, callback attempts', async () => {
    expect((await sendSms(t.url, auth, body)).status).to.equal(201);
    await sendSms(t.url, auth, single({ destination: '+1', source: '12125551234', content: 'x' }));
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).to.equal(200);
    const text = await res.text();
    expect(text).to.match(/sms_submissions_total\{result="accepted",reason=""\} 1/);
    expect(text).to.match(/sms_submissions_total\{result="rejected",reason="INVALID_ATTRIBUTE"\} 1/);
    expect(text).to.match(/sms_queue_depth\{queue="callbacks_dead"\} 0/);
    expect(text).to.contain('sms_carrier_submit_seconds');
    expect(text).to.contain('sms_process_resident_memory_bytes');
  });

  it('protects /metrics with METRICS_TOKEN when set', async () => {
    const guarded = await startTestPlatform({ METRICS_TOKEN: 'metrics-secret-123' });
    try {
      expect((await fetch(`${guarded.url}/metrics`)).status).to.equal(401);
      expect((await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer metrics-secret-123' } })).status).to.equal(200);
    } finally {
      await guarded.stop();
    }
  });
});
