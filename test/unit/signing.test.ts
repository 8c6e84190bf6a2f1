import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import {
  CallbackVerificationError,
  generateCallbackSecret,
  signCallback,
  verifyCallback,
  type CallbackVerificationCode,
  type VerifyCallbackArgs,
} from '../../control-plane/src/callbacks/signing';

const NOW = new Date('2025-03-01T12:00:00Z');
const NOW_SECONDS = NOW.getTime() / 1000;
const BODY = JSON.stringify({ data: { type: 'outbound_message_callbacks', attributes: { status: 'delivered' } } });

function expectFailure(args: VerifyCallbackArgs, code: CallbackVerificationCode): void {
  let caught: unknown;
  try {
    verifyCallback(args);
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${code}`).to.be.instanceOf(CallbackVerificationError);
  expect((caught as CallbackVerificationError).code).to.equal(code);
}

describe('generateCallbackSecret', () => {
  it('makes whsec_ secrets of 32 random bytes', () => {
    const a = generateCallbackSecret();
    const b = generateCallbackSecret();
    expect(a).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice('whsec_'.length), 'base64')).to.have.length(32);
    expect(a).to.not.equal(b);
  });
});

describe('signCallback', () => {
  it('matches the test vector of the Standard Webhooks specification', () => {
    const headers = signCallback({
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    });
    expect(headers).to.deep.equal({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('writes a Date timestamp as whole unix seconds', () => {
    const headers = signCallback({ id: 'msg_1', timestamp: new Date('2025-03-01T12:00:00.999Z'), body: BODY, secrets: [generateCallbackSecret()] });
    expect(headers['webhook-timestamp']).to.equal(String(NOW_SECONDS));
  });

  it('adds one signature per secret, in order', () => {
    const [a, b] = [generateCallbackSecret(), generateCallbackSecret()];
    const both = signCallback({ id: 'msg_1', timestamp: NOW, body: BODY, secrets: [a, b] })['webhook-signature'];
    const onlyA = signCallback({ id: 'msg_1', timestamp: NOW, body: BODY, secrets: [a] })['webhook-signature'];
    const onlyB = signCallback({ id: 'msg_1', timestamp: NOW, body: BODY, secrets: [b] })['webhook-signature'];
    expect(both).to.equal(`${onlyA} ${onlyB}`);
  });

  const invalid: Array<[string, Parameters<typeof signCallback>[0], RegExp]> = [
    ['there is no secret', { id: 'msg_1', timestamp: NOW, body: BODY, secrets: [] }, /at least one secret/],
    ['a secret is not base64', { id: 'msg_1', timestamp: NOW, body: BODY, secrets: ['whsec_not*base64'] }, /secret #1 is not/],
    ['the timestamp looks like milliseconds', { id: 'msg_1', timestamp: NOW.getTime(), body: BODY, secrets: [generateCallbackSecret()] }, /whole unix seconds/],
    ['the id has a space', { id: 'msg 1', timestamp: NOW, body: BODY, secrets: [generateCallbackSecret()] }, /printable ASCII/],
    ['the id is empty', { id: '', timestamp: NOW, body: BODY, secrets: [generateCallbackSecret()] }, /printable ASCII/],
  ];
  for (const [reason, args, message] of invalid) {
    it(`fails when ${reason}`, () => {
      expect(() => signCallback(args)).to.throw(message);
    });
  }

  it('fails on a malformed secret without putting the secret in the message', () => {
    const secret = 'whsec_c2VjcmV0-dmFsdWU=';
    expect(() => signCallback({ id: 'msg_1', timestamp: NOW, body: BODY, secrets: [generateCallbackSecret(), secret] }))
      .to.throw(TypeError, /secret #2/)
      .with.property('message')
      .that.does.not.include('c2VjcmV0');
  });
});

describe('verifyCallback', () => {
  const secret = generateCallbackSecret();
  const signed = (overrides: Partial<Parameters<typeof signCallback>[0]> = {}) =>
    signCallback({ id: 'msg_2Xyz', timestamp: NOW, body: BODY, secrets: [secret], ...overrides });

  it('returns the id, timestamp and parsed payload of a genuine callback', () => {
    const result = verifyCallback({ body: BODY, headers: signed(), secret, now: NOW });
    expect(result).to.deep.equal({ id: 'msg_2Xyz', timestamp: NOW, payload: JSON.parse(BODY) });
  });

  it('accepts the raw body as a Buffer', () => {
    const body = JSON.stringify({ text: 'Grüße 😀' });
    const result = verifyCallback({ body: Buffer.from(body, 'utf8'), headers: signed({ body }), secret, now: NOW });
    expect(result.payload).to.deep.equal({ text: 'Grüße 😀' });
  });

  it('returns an undefined payload for a signed empty body', () => {
    expect(verifyCallback({ body: '', headers: signed({ body: '' }), secret, now: NOW }).payload).to.equal(undefined);
  });

  it('accepts a fetch Headers object', () => {
    const headers = new Headers(signed());
    expect(verifyCallback({ body: BODY, headers, secret, now: NOW }).id).to.equal('msg_2Xyz');
  });

  it('accepts header names in any letter case and single-element arrays', () => {
    const h = signed();
    const headers = { 'Webhook-Id': [h['webhook-id']!], 'WEBHOOK-TIMESTAMP': h['webhook-timestamp'], 'webhook-Signature': [h['webhook-signature']!] };
    expect(verifyCallback({ body: BODY, headers, secret, now: NOW }).id).to.equal('msg_2Xyz');
  });

  it('accepts a signature header that a proxy split over several lines', () => {
    const other = generateCallbackSecret();
    const h = signCallback({ id: 'msg_2Xyz', timestamp: NOW, body: BODY, secrets: [other, secret] });
    const [first, second] = h['webhook-signature']!.split(' ');
    // fetch's Headers joins repeated values with ", ".
    const headers = new Headers([
      ['webhook-id', h['webhook-id']!],
      ['webhook-timestamp', h['webhook-timestamp']!],
      ['webhook-signature', first!],
      ['webhook-signature', second!],
    ]);
    expect(headers.get('webhook-signature')).to.include(', ');
    expect(verifyCallback({ body: BODY, headers, secret, now: NOW }).id).to.equal('msg_2Xyz');
  });

  it('ignores signature schemes other than v1 next to a valid v1', () => {
    const h = signed();
    const headers = { ...h, 'webhook-signature': `v1a,${Buffer.alloc(64).toString('base64')} ${h['webhook-signature']}` };
    expect(verifyCallback({ body: BODY, headers, secret, now: NOW }).id).to.equal('msg_2Xyz');
  });

  describe('during a secret rotation', () => {
    const oldSecret = generateCallbackSecret();
    const newSecret = generateCallbackSecret();
    const headers = signCallback({ id: 'msg_rot', timestamp: NOW, body: BODY, secrets: [newSecret, oldSecret] });

    it('verifies for a receiver that still has only the old secret', () => {
      expect(verifyCallback({ body: BODY, headers, secret: oldSecret, now: NOW }).id).to.equal('msg_rot');
    });

    it('verifies for a receiver that already has only the new secret', () => {
      expect(verifyCallback({ body: BODY, headers, secret: newSecret, now: NOW }).id).to.equal('msg_rot');
    });

    it('verifies for a receiver that holds both secrets while the sender uses only the new one', () => {
      const afterRotation = signCallback({ id: 'msg_rot', timestamp: NOW, body: BODY, secrets: [newSecret] });
      expect(verifyCallback({ body: BODY, headers: afterRotation, secret: [oldSecret, newSecret], now: NOW }).id).to.equal('msg_rot');
    });

    it('fails when the receiver has neither secret', () => {
      expectFailure({ body: BODY, headers, secret: [generateCallbackSecret(), generateCallbackSecret()], now: NOW }, 'SIGNATURE_INVALID');
    });
  });

  it('fails when the body was changed after signing', () => {
    expectFailure({ body: BODY.replace('delivered', 'failed'), headers: signed(), secret, now: NOW }, 'SIGNATURE_INVALID');
  });

  it('fails when the body was re-serialised with different whitespace', () => {
    expectFailure({ body: JSON.stringify(JSON.parse(BODY), null, 2), headers: signed(), secret, now: NOW }, 'SIGNATURE_INVALID');
  });

  it('fails when the webhook-id was changed after signing', () => {
    expectFailure({ body: BODY, headers: { ...signed(), 'webhook-id': 'msg_other' }, secret, now: NOW }, 'SIGNATURE_INVALID');
  });

  it('fails when the timestamp was changed after signing', () => {
    expectFailure({ body: BODY, headers: { ...signed(), 'webhook-timestamp': String(NOW_SECONDS + 1) }, secret, now: NOW }, 'SIGNATURE_INVALID');
  });

  it('fails when the secret is wrong', () => {
    expectFailure({ body: BODY, headers: signed(), secret: generateCallbackSecret(), now: NOW }, 'SIGNATURE_INVALID');
  });

  it('fails when the signature is not 32 bytes', () => {
    expectFailure({ body: BODY, headers: { ...signed(), 'webhook-signature': 'v1,AAAA' }, secret, now: NOW }, 'SIGNATURE_INVALID');
  });

  it('accepts a timestamp exactly at the edge of the tolerance, both ways', () => {
    const at = (offsetSeconds: number) => new Date(NOW.getTime() + offsetSeconds * 1000);
    expect(verifyCallback({ body: BODY, headers: signed(), secret, now: at(300) }).id).to.equal('msg_2Xyz');
    expect(verifyCallback({ body: BODY, headers: signed(), secret, now: at(-300) }).id).to.equal('msg_2Xyz');
    expect(verifyCallback({ body: BODY, headers: signed(), secret, now: at(30), toleranceSeconds: 30 }).id).to.equal('msg_2Xyz');
  });

  it('fails when the timestamp is older than the tolerance', () => {
    expectFailure({ body: BODY, headers: signed(), secret, now: new Date(NOW.getTime() + 301_000) }, 'TIMESTAMP_TOO_OLD');
    expectFailure({ body: BODY, headers: signed(), secret, now: new Date(NOW.getTime() + 31_000), toleranceSeconds: 30 }, 'TIMESTAMP_TOO_OLD');
  });

  it('fails when the timestamp is further in the future than the tolerance', () => {
    expectFailure({ body: BODY, headers: signed(), secret, now: new Date(NOW.getTime() - 301_000) }, 'TIMESTAMP_TOO_NEW');
  });

  it('fails with SIGNATURE_INVALID, not a timestamp code, for a forged old callback', () => {
    expectFailure({ body: BODY, headers: signed(), secret: generateCallbackSecret(), now: new Date(NOW.getTime() + 86_400_000) }, 'SIGNATURE_INVALID');
  });

  for (const header of ['webhook-id', 'webhook-timestamp'] as const) {
    it(`fails when ${header} is missing`, () => {
      const headers: Record<string, string> = { ...signed() };
      delete headers[header];
      expectFailure({ body: BODY, headers, secret, now: NOW }, 'HEADERS_MISSING');
    });

    it(`fails when ${header} is empty`, () => {
      expectFailure({ body: BODY, headers: { ...signed(), [header]: ' ' }, secret, now: NOW }, 'HEADERS_MISSING');
    });

    it(`fails when ${header} is sent twice`, () => {
      const h = signed();
      expectFailure({ body: BODY, headers: { ...h, [header]: [h[header]!, h[header]!] }, secret, now: NOW }, 'HEADERS_INVALID');
    });
  }

  it('fails when there are no headers at all', () => {
    expectFailure({ body: BODY, headers: {}, secret, now: NOW }, 'HEADERS_MISSING');
    expectFailure({ body: BODY, headers: new Headers(), secret, now: NOW }, 'HEADERS_MISSING');
  });

  it('fails when webhook-signature is missing', () => {
    const { 'webhook-signature': _omitted, ...headers } = signed();
    expectFailure({ body: BODY, headers, secret, now: NOW }, 'SIGNATURE_MISSING');
  });

  it('fails when webhook-signature has no v1 entry', () => {
    expectFailure({ body: BODY, headers: { ...signed(), 'webhook-signature': 'v2,abcd v1a,abcd' }, secret, now: NOW }, 'SIGNATURE_MISSING');
  });

  it('fails when webhook-timestamp is not unix seconds', () => {
    expectFailure({ body: BODY, headers: { ...signed(), 'webhook-timestamp': '2025-03-01T12:00:00Z' }, secret, now: NOW }, 'HEADERS_INVALID');
  });

  it('fails when a genuine body is not JSON', () => {
    expectFailure({ body: 'not json', headers: signed({ body: 'not json' }), secret, now: NOW }, 'PAYLOAD_INVALID');
  });

  it('fails with a TypeError, not a verification error, when the receiver secret is malformed', () => {
    expect(() => verifyCallback({ body: BODY, headers: signed(), secret: 'whsec_', now: NOW })).to.throw(TypeError, /secret #1/);
    expect(() => verifyCallback({ body: BODY, headers: signed(), secret: [], now: NOW })).to.throw(TypeError, /at least one secret/);
  });
});

describe('interoperability with the standardwebhooks package', () => {
  const secret = generateCallbackSecret();

  it('our signature verifies with Webhook.verify', () => {
    // The package reads Date.now(), so this signature must be fresh.
    const headers = signCallback({ id: 'msg_interop', timestamp: new Date(), body: BODY, secrets: [secret] });
    expect(new Webhook(secret).verify(BODY, headers)).to.deep.equal(JSON.parse(BODY));
  });

  it('our rotation signatures verify with Webhook.verify for each secret', () => {
    const other = generateCallbackSecret();
    const headers = signCallback({ id: 'msg_interop', timestamp: new Date(), body: BODY, secrets: [secret, other] });
    expect(new Webhook(secret).verify(BODY, headers)).to.deep.equal(JSON.parse(BODY));
    expect(new Webhook(other).verify(BODY, headers)).to.deep.equal(JSON.parse(BODY));
  });

  it('a signature made by Webhook.sign verifies with verifyCallback', () => {
    const body = JSON.stringify({ text: 'Grüße 😀' });
    const signature = new Webhook(secret).sign('msg_theirs', NOW, body);
    const headers = { 'webhook-id': 'msg_theirs', 'webhook-timestamp': String(NOW_SECONDS), 'webhook-signature': signature };
    expect(verifyCallback({ body, headers, secret, now: NOW }).payload).to.deep.equal({ text: 'Grüße 😀' });
  });

  it('fails when Webhook.verify is given a tampered body we signed', () => {
    const headers = signCallback({ id: 'msg_interop', timestamp: new Date(), body: BODY, secrets: [secret] });
    expect(() => new Webhook(secret).verify(BODY + ' ', headers)).to.throw(/No matching signature/);
  });
});

describe('a receiver behind node:http', () => {
  const secret = generateCallbackSecret();
  let server: http.Server;
  let url: string;

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        try {
          const { id } = verifyCallback({ body: Buffer.concat(chunks), headers: req.headers, secret });
          res.writeHead(204, { 'x-verified-id': id }).end();
        } catch (error) {
          res.writeHead(401).end(error instanceof CallbackVerificationError ? error.code : 'unexpected');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('verifies a signed POST using req.headers and the raw body', async () => {
    const body = JSON.stringify({ text: 'Grüße 😀' });
    const headers = signCallback({ id: 'msg_http', timestamp: new Date(), body, secrets: [secret] });
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    expect(res.status).to.equal(204);
    expect(res.headers.get('x-verified-id')).to.equal('msg_http');
  });

  it('fails when the POST carries no signature headers', async () => {
    const res = await fetch(url, { method: 'POST', body: BODY, headers: { 'content-type': 'application/json' } });
    expect(res.status).to.equal(401);
    expect(await res.text()).to.equal('HEADERS_MISSING');
  });
});
