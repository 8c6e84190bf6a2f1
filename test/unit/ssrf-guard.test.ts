import { expect } from 'chai';
import { SsrfGuard } from '../../control-plane/src/callbacks/ssrf-guard';

describe('SSRF guard for callback targets', () => {
  const guard = new SsrfGuard([]);
  const refused = ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', 'fe80::1', 'fd00:ec2::254', '::ffff:127.0.0.1', '::'];
  for (const ip of refused) {
    it(`refuses ${ip}`, () => expect(guard.refuse(ip)).to.be.a('string'));
  }
  for (const ip of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '::ffff:93.184.216.34']) {
    it(`allows the public address ${ip}`, () => expect(guard.refuse(ip)).to.equal(undefined));
  }

  it('allows addresses listed in CALLBACK_ALLOW_CIDRS', () => {
    const allowing = new SsrfGuard(['127.0.0.0/8', '::1/128']);
    expect(allowing.refuse('127.0.0.9')).to.equal(undefined);
    expect(allowing.refuse('::1')).to.equal(undefined);
    expect(allowing.refuse('10.0.0.1')).to.be.a('string');
  });

  it('fails the connection when a name resolves to a refused address (checked at connect time, so DNS rebinding is caught)', async () => {
    const err = await new Promise<Error | null>((resolve) => guard.lookup('localhost', {}, (e) => resolve(e)));
    expect(err).to.be.instanceOf(Error);
    expect((err as NodeJS.ErrnoException).code).to.equal('SSRF_BLOCKED');
    expect(err!.message).to.match(/loopback/);
  });

  it('judges literal and localhost URLs when a trunk is saved', () => {
    expect(guard.refuseUrl('http://[::1]:8080/x')).to.match(/loopback/);
    expect(guard.refuseUrl('http://app.localhost/x')).to.match(/loopback/);
    expect(guard.refuseUrl('https://example.com/x')).to.equal(undefined);
  });
});
