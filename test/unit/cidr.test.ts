import { expect } from 'chai';
import { matchesAny, parseCidr, parseClientIp } from '../../control-plane/src/trunks/cidr';

describe('parseCidr', () => {
  const accepted: Array<[string, string]> = [
    ['203.0.113.7', '203.0.113.7/32'],
    ['203.0.113.0/24', '203.0.113.0/24'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['10.0.0.0/8', '10.0.0.0/8'],
    [' 192.0.2.1/32 ', '192.0.2.1/32'],
    ['2001:db8::1', '2001:db8::1/128'],
    ['2001:DB8:0:0:0:0:0:0/64', '2001:db8::/64'],
    ['2001:db8:abcd:12::/64', '2001:db8:abcd:12::/64'],
    ['::/0', '::/0'],
    ['::1', '::1/128'],
    ['::ffff:192.0.2.1', '192.0.2.1/32'],
    ['::ffff:192.0.2.0/120', '192.0.2.0/24'],
  ];
  for (const [input, canonical] of accepted) {
    it(`accepts ${JSON.stringify(input)} as ${canonical}`, () => {
      const r = parseCidr(input);
      expect(r.ok, JSON.stringify(r)).to.equal(true);
      if (r.ok) expect(r.cidr).to.equal(canonical);
    });
  }

  const rejected: Array<[string, RegExp]> = [
    ['1.2.3.4/33', /mask \/33.*0 to 32/],
    ['2001:db8::/129', /mask \/129.*0 to 128/],
    ['10.0.0.5/24', /host bits.*10\.0\.0\.0\/24.*10\.0\.0\.5\/32/],
    ['2001:db8::1/64', /host bits.*2001:db8::\/64/],
    ['1.2.3', /not an IPv4 address/],
    ['010.1.1.1', /not an IPv4 address/],
    ['0x7f.0.0.1', /not an IPv4 address/],
    ['256.1.1.1', /not an IPv4 address/],
    ['1.2.3.4/', /mask/],
    ['1.2.3.4/-1', /mask/],
    ['1.2.3.4/8/8', /more than one/],
    ['1.2.3.4/255.255.255.0', /mask/],
    ['fe80::1%eth0', /zone index/],
    ['example.com', /not an IPv4/],
    ['', /empty/],
    ['::ffff:1.2.3.0/64', /IPv4-mapped/],
    ['1.2.3.4 /24', /not an IPv4|mask/],
  ];
  for (const [input, reason] of rejected) {
    it(`fails when given ${JSON.stringify(input)}`, () => {
      const r = parseCidr(input);
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.reason).to.match(reason);
    });
  }
});

describe('matching client addresses', () => {
  const ranges = ['192.0.2.0/24', '2001:db8:1::/64'].map((c) => {
    const r = parseCidr(c);
    if (!r.ok) throw new Error(c);
    return r.range;
  });
  const cases: Array<[string, boolean]> = [
    ['192.0.2.200', true],
    ['192.0.3.1', false],
    ['::ffff:192.0.2.9', true],
    ['::ffff:192.0.3.9', false],
    ['2001:db8:1::42', true],
    ['2001:db8:1:0:ffff::1', true],
    ['2001:db8:2::1', false],
    ['::1', false],
  ];
  for (const [ip, expected] of cases) {
    it(`${expected ? 'matches' : 'does not match'} ${ip}`, () => {
      const addr = parseClientIp(ip);
      expect(addr).to.not.equal(undefined);
      expect(matchesAny(addr!, ranges)).to.equal(expected);
    });
  }
  it('fails to parse garbage client addresses instead of matching them', () => {
    expect(parseClientIp('not-an-ip')).to.equal(undefined);
    expect(parseClientIp(undefined)).to.equal(undefined);
  });
});
