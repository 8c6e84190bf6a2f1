import crypto from 'node:crypto';

/**
 * Callback signatures following Standard Webhooks (https://www.standardwebhooks.com):
 *
 *   webhook-id:        unique message id, the same on every retry (receivers deduplicate on it)
 *   webhook-timestamp: unix seconds of this attempt
 *   webhook-signature: "v1,<base64 HMAC-SHA256(key, `${id}.${timestamp}.${body}`)>", space-separated,
 *                      one entry per active secret so receivers keep working during a rotation
 *
 * Signing and verification use node:crypto (the `standardwebhooks` package hashes in JavaScript,
 * which cost more CPU than the rest of a callback delivery); the tests cross-check both directions
 * against that package, the scheme's reference implementation. Its verifier is not used because
 * `Webhook.verify` takes one secret per instance, reads `Date.now()` with a fixed 5-minute
 * tolerance (no injectable clock, no configurable window), hashes the body after turning a Buffer
 * into a string, and reports failures only as message text. The tests cross-check both directions
 * against the package.
 */

const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;
const DEFAULT_TOLERANCE_SECONDS = 5 * 60;
/** Larger than any plausible unix time in seconds, smaller than any recent one in milliseconds. */
const MAX_UNIX_SECONDS = 1e11;

export type CallbackVerificationCode =
  | 'HEADERS_MISSING'
  | 'HEADERS_INVALID'
  | 'SIGNATURE_MISSING'
  | 'SIGNATURE_INVALID'
  | 'TIMESTAMP_TOO_OLD'
  | 'TIMESTAMP_TOO_NEW'
  | 'PAYLOAD_INVALID';

/**
 * A callback that must not be trusted. Receivers should answer it with 401 (or 400 for
 * HEADERS_INVALID / PAYLOAD_INVALID) and not process it; the `code` is stable, the message is not.
 */
export class CallbackVerificationError extends Error {
  constructor(
    readonly code: CallbackVerificationCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'CallbackVerificationError';
  }
}

/** `whsec_` followed by the base64 of 32 random bytes, as Standard Webhooks libraries expect. */
export function generateCallbackSecret(): string {
  return SECRET_PREFIX + crypto.randomBytes(SECRET_BYTES).toString('base64');
}

/**
 * Decodes a secret with or without the `whsec_` prefix (the package accepts both, so receivers
 * may have stored either). The secret itself never appears in the error: these messages get logged.
 */
function secretKey(secret: string, position: number): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  // Buffer.from(…, 'base64') skips invalid characters silently; require the canonical padded form,
  // which is also the only form the package's decoder accepts.
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0 || key.toString('base64') !== encoded) {
    throw new TypeError(`callback secret #${position + 1} is not "whsec_" followed by base64; generate one with generateCallbackSecret()`);
  }
  return key;
}

/** Decoded signing keys by secret: a worker signs thousands of callbacks a second with a few secrets. */
const keyCache = new Map<string, Buffer>();
function cachedKey(secret: string, position: number): Buffer {
  let key = keyCache.get(secret);
  if (key === undefined) {
    key = secretKey(secret, position);
    if (keyCache.size >= 10_000) keyCache.clear();
    keyCache.set(secret, key);
  }
  return key;
}

function unixSeconds(timestamp: Date | number): number {
  if (timestamp instanceof Date) {
    const ms = timestamp.getTime();
    if (Number.isNaN(ms)) throw new RangeError('callback timestamp is an invalid Date');
    return Math.floor(ms / 1000);
  }
  if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp >= MAX_UNIX_SECONDS) {
    throw new RangeError(`callback timestamp ${timestamp} must be whole unix seconds (pass a Date for milliseconds)`);
  }
  return timestamp;
}

export interface SignCallbackArgs {
  /** Message id, stable across retries of the same callback. */
  id: string;
  /** Time of this attempt: a Date, or whole unix seconds. */
  timestamp: Date | number;
  /** The exact body that will be sent; re-serialising JSON after signing breaks the signature. */
  body: string;
  /** Active secrets, newest first by convention; two during a rotation. */
  secrets: string[];
}

/** Headers to add to the callback request. */
export function signCallback(args: SignCallbackArgs): Record<string, string> {
  const { id, body, secrets } = args;
  // An id with whitespace or control characters would not survive as a header value.
  if (!/^[\x21-\x7e]+$/.test(id)) throw new TypeError(`callback id ${JSON.stringify(id)} must be non-empty printable ASCII without spaces`);
  if (secrets.length === 0) throw new TypeError('signCallback needs at least one secret');
  const keys = secrets.map(cachedKey);
  const seconds = unixSeconds(args.timestamp);
  const signatures = keys.map((key) => `v1,${hmac(key, id, String(seconds), body).toString('base64')}`);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(seconds),
    'webhook-signature': signatures.join(' '),
  };
}

export type CallbackHeaders = Record<string, string | string[] | undefined> | Headers;

export interface VerifyCallbackArgs {
  /** The raw body as received, before any JSON parsing. */
  body: string | Buffer;
  /** Node's `req.headers`, a plain object in any letter case, or a fetch `Headers`. */
  headers: CallbackHeaders;
  /** One secret, or several while rotating: a signature made with any of them is accepted. */
  secret: string | string[];
  /** How far the timestamp may be from `now`, either way. @default 300 */
  toleranceSeconds?: number;
  /** @default new Date() */
  now?: Date;
}

export interface VerifiedCallback {
  id: string;
  timestamp: Date;
  /** The parsed JSON body; undefined for an empty body. */
  payload: unknown;
}

function isFetchHeaders(headers: CallbackHeaders): headers is Headers {
  // Duck-typed so that Headers from undici, node-fetch or another realm all work.
  return typeof (headers as Headers).get === 'function' && typeof (headers as Headers).forEach === 'function';
}

function headerReader(headers: CallbackHeaders): (name: string) => string | string[] | undefined {
  if (isFetchHeaders(headers)) return (name) => headers.get(name) ?? undefined;
  const lower = new Map<string, string | string[] | undefined>();
  for (const [key, value] of Object.entries(headers)) lower.set(key.toLowerCase(), value);
  return (name) => lower.get(name);
}

/** A single-valued header; a repeated webhook-id or webhook-timestamp is ambiguous, so refused. */
function single(name: string, value: string | string[] | undefined): string | undefined {
  if (Array.isArray(value)) {
    if (value.length > 1) throw new CallbackVerificationError('HEADERS_INVALID', `${name} was sent more than once`);
    value = value[0];
  }
  const trimmed = value?.trim();
  return trimmed === '' ? undefined : trimmed;
}

/**
 * The v1 signatures in a webhook-signature header, decoded. Tolerates the ", " that fetch and
 * Node insert when the header was split over several lines; base64 never contains a comma.
 */
function v1Signatures(value: string | string[] | undefined): Buffer[] {
  const joined = Array.isArray(value) ? value.join(' ') : (value ?? '');
  const signatures: Buffer[] = [];
  for (const entry of joined.split(/\s+/)) {
    const match = /^v1,([A-Za-z0-9+/]+={0,2}),?$/.exec(entry);
    if (match) signatures.push(Buffer.from(match[1]!, 'base64'));
  }
  return signatures;
}

function hmac(key: Buffer, id: string, timestamp: string, body: string | Buffer): Buffer {
  return crypto.createHmac('sha256', key).update(`${id}.${timestamp}.`, 'utf8').update(body).digest();
}

/**
 * Checks a received callback and returns its id, timestamp and parsed body.
 *
 * The signature is checked before the timestamp, so TIMESTAMP_TOO_OLD / TOO_NEW only ever mean
 * "genuine, but outside the window" (a replay or a skewed clock) and never hide a forgery.
 *
 * @throws CallbackVerificationError when the callback must not be trusted
 * @throws TypeError when a secret is malformed (a receiver configuration problem, not the sender's)
 */
export function verifyCallback(args: VerifyCallbackArgs): VerifiedCallback {
  const secrets = Array.isArray(args.secret) ? args.secret : [args.secret];
  if (secrets.length === 0) throw new TypeError('verifyCallback needs at least one secret');
  const keys = secrets.map(secretKey);
  const toleranceSeconds = args.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!(toleranceSeconds >= 0)) throw new RangeError(`toleranceSeconds ${toleranceSeconds} must be zero or more`);

  const read = headerReader(args.headers);
  const id = single('webhook-id', read('webhook-id'));
  const timestampText = single('webhook-timestamp', read('webhook-timestamp'));
  const missing = [!id && 'webhook-id', !timestampText && 'webhook-timestamp'].filter(Boolean);
  if (missing.length > 0) throw new CallbackVerificationError('HEADERS_MISSING', `missing ${missing.join(' and ')} header`);

  const signatureHeader = read('webhook-signature');
  const signatures = v1Signatures(signatureHeader);
  if (signatures.length === 0) {
    throw new CallbackVerificationError(
      'SIGNATURE_MISSING',
      signatureHeader === undefined ? 'missing webhook-signature header' : 'webhook-signature has no "v1,<base64>" entry',
    );
  }
  if (!/^\d{1,11}$/.test(timestampText!)) {
    throw new CallbackVerificationError('HEADERS_INVALID', `webhook-timestamp ${JSON.stringify(timestampText)} is not unix seconds`);
  }

  let matched = false;
  for (const key of keys) {
    const expected = hmac(key, id!, timestampText!, args.body);
    for (const signature of signatures) {
      // Lengths are public (always 32 for SHA-256); timingSafeEqual throws on a mismatch.
      if (signature.length === expected.length && crypto.timingSafeEqual(signature, expected)) matched = true;
    }
  }
  if (!matched) throw new CallbackVerificationError('SIGNATURE_INVALID', 'no signature matches the body with the configured secret(s)');

  const seconds = Number(timestampText);
  const nowSeconds = Math.floor((args.now ?? new Date()).getTime() / 1000);
  if (nowSeconds - seconds > toleranceSeconds) {
    throw new CallbackVerificationError('TIMESTAMP_TOO_OLD', `signed ${nowSeconds - seconds} s ago, more than ${toleranceSeconds} s`);
  }
  if (seconds - nowSeconds > toleranceSeconds) {
    throw new CallbackVerificationError('TIMESTAMP_TOO_NEW', `signed ${seconds - nowSeconds} s in the future, more than ${toleranceSeconds} s`);
  }

  const text = typeof args.body === 'string' ? args.body : args.body.toString('utf8');
  let payload: unknown;
  if (text !== '') {
    try {
      payload = JSON.parse(text);
    } catch (error) {
      throw new CallbackVerificationError('PAYLOAD_INVALID', `body is signed but is not JSON: ${(error as Error).message}`);
    }
  }
  return { id: id!, timestamp: new Date(seconds * 1000), payload };
}
