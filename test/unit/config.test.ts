import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../control-plane/src/config';

describe('configuration', () => {
  it('uses the documented defaults when nothing is set', () => {
    const c = loadConfig({}, '/srv/app');
    expect(c.port).to.equal(8080);
    expect(c.host).to.equal('127.0.0.1');
    expect(c.databaseUrl).to.equal('sqlite:///srv/app/data/trunks.sqlite3');
    expect(c.adminToken).to.equal(undefined);
    expect(c.shareLinkTtlSeconds).to.equal(86400);
  });

  it('reads lists and keys', () => {
    const c = loadConfig({ CALLBACK_ALLOW_CIDRS: '127.0.0.0/8, ::1/128', SECRETS_KEY: 'ab'.repeat(32), TRUSTED_PROXIES: '10.0.0.1' }, '/x');
    expect(c.callbackAllowCidrs).to.deep.equal(['127.0.0.0/8', '::1/128']);
    expect(c.secretsKey?.length).to.equal(32);
    expect(c.trustedProxies).to.deep.equal(['10.0.0.1']);
  });

  it('fails with every problem at once when several values are wrong', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', ADMIN_TOKEN: 'short', SECRETS_KEY: 'nope', LOG_LEVEL: 'loud', PUBLIC_URL: 'ftp://x' }, '/x');
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'DATABASE_URL', 'ADMIN_TOKEN', 'SECRETS_KEY', 'LOG_LEVEL', 'PUBLIC_URL']) expect(problems).to.contain(name);
  });

  it('fails when PORT is out of range instead of falling back', () => {
    expect(() => loadConfig({ PORT: '70000' }, '/x')).to.throw(ConfigError, /PORT must be between 0 and 65535/);
  });
});
