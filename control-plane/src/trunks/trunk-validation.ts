import { ErrorCollector } from '../errors';
import { short } from '../http/jsonapi';
import { parseCidr } from './cidr';

/** DIDWW allows 60 entries for voice trunks; SMS OUT allows 100 so a few shared lists fit on one trunk. */
export const MAX_ALLOWED_IPS = 100;
export const MAX_NAME_LENGTH = 100;
export const MAX_URL_LENGTH = 2048;
export const MAX_SOURCE_DIDS = 10_000;
export const MAX_SOURCE_SETS = 100;

export function checkName(value: unknown, pointer: string, errors: ErrorCollector, what = 'name'): string | undefined {
  if (typeof value !== 'string') {
    errors.add('NAME_INVALID', `${what} is required and must be a string`, pointer);
    return undefined;
  }
  const name = value.trim();
  if (name.length < 1 || name.length > MAX_NAME_LENGTH) {
    errors.add('NAME_INVALID', `${what} must be 1 to ${MAX_NAME_LENGTH} characters after trimming, got ${name.length}`, pointer);
    return undefined;
  }
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    errors.add('NAME_INVALID', `${what} must not contain control characters`, pointer);
    return undefined;
  }
  return name;
}

export function checkCallbackUrl(value: unknown, pointer: string, errors: ErrorCollector): string | null | undefined {
  if (value === null || value === '') return null;
  if (typeof value !== 'string') {
    errors.add('CALLBACK_URL_INVALID', `callback_url must be a string or null, got ${short(value)}`, pointer);
    return undefined;
  }
  if (value.length > MAX_URL_LENGTH) {
    errors.add('CALLBACK_URL_INVALID', `callback_url must be at most ${MAX_URL_LENGTH} characters, got ${value.length}`, pointer);
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    errors.add('CALLBACK_URL_INVALID', `${short(value)} is not an absolute URL; use e.g. https://example.com/sms/callback`, pointer);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    errors.add('CALLBACK_URL_INVALID', `callback_url must use http or https, got ${url.protocol.replace(':', '')}`, pointer);
    return undefined;
  }
  if (url.username !== '' || url.password !== '') {
    errors.add('CALLBACK_URL_INVALID', 'callback_url must not carry user:password@; callbacks are signed instead (see the README)', pointer);
    return undefined;
  }
  if (/[\s\u0000-\u001f\u007f]/.test(value) || url.hostname === '') {
    errors.add('CALLBACK_URL_INVALID', `${short(value)} has whitespace, control characters or no host`, pointer);
    return undefined;
  }
  return value;
}

/** Returns canonical, de-duplicated CIDRs in the order given; every bad element is reported with its index. */
export function checkAllowedIps(value: unknown, pointer: string, errors: ErrorCollector): string[] | undefined {
  if (value === null) return [];
  if (!Array.isArray(value)) {
    errors.add('ALLOWED_IPS_INVALID', `allowed_ips must be an array of "(IPv4|IPv6)[/mask]" strings, got ${short(value)}`, pointer);
    return undefined;
  }
  if (value.length > MAX_ALLOWED_IPS) {
    errors.add('ALLOWED_IPS_TOO_MANY', `allowed_ips holds at most ${MAX_ALLOWED_IPS} entries, got ${value.length}; use wider prefixes`, pointer);
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  value.forEach((item, i) => {
    if (typeof item !== 'string') {
      errors.add('ALLOWED_IP_INVALID', `allowed_ips[${i}] must be a string, got ${short(item)}`, `${pointer}/${i}`);
      ok = false;
      return;
    }
    const parsed = parseCidr(item);
    if (!parsed.ok) {
      errors.add('ALLOWED_IP_INVALID', `allowed_ips[${i}] ${short(item)} ${parsed.reason}`, `${pointer}/${i}`);
      ok = false;
      return;
    }
    if (!out.includes(parsed.cidr)) out.push(parsed.cidr);
  });
  return ok ? out : undefined;
}

export function checkBoolean(value: unknown, name: string, pointer: string, errors: ErrorCollector): boolean | undefined {
  if (typeof value !== 'boolean') {
    errors.add('BOOLEAN_INVALID', `${name} must be true or false, got ${short(value)}`, pointer);
    return undefined;
  }
  return value;
}

export function checkExternalReference(value: unknown, pointer: string, errors: ErrorCollector): string | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'string' || value.length < 1 || value.length > 100 || /[\u0000-\u001f\u007f]/.test(value)) {
    errors.add('EXTERNAL_REFERENCE_INVALID', 'external_reference_id must be 1 to 100 printable characters, or null', pointer);
    return undefined;
  }
  return value;
}

export const MAX_RATE_LIMIT_PER_SECOND = 100_000;

export function checkRateLimit(value: unknown, pointer: string, errors: ErrorCollector): number | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_RATE_LIMIT_PER_SECOND) {
    errors.add('RATE_LIMIT_INVALID', `rate_limit_per_second must be a whole number from 1 to ${MAX_RATE_LIMIT_PER_SECOND}, or null for no limit; got ${short(value)}`, pointer);
    return undefined;
  }
  return value;
}

/** `managed_by` names the stack that owns a resource (e.g. "cdktf:payments-prod"). */
export function checkManagedBy(value: unknown, pointer: string, errors: ErrorCollector): string | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'string' || value.length < 1 || value.length > 200 || /[\u0000-\u001f\u007f]/.test(value)) {
    errors.add('MANAGED_BY_INVALID', 'managed_by must be 1 to 200 printable characters naming the owning stack, or null', pointer);
    return undefined;
  }
  return value;
}

/** An opaque hash of the declared spec, chosen by the applier; conditional deletes compare it. */
export function checkSpecHash(value: unknown, pointer: string, errors: ErrorCollector): string | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'string' || !/^[A-Za-z0-9:_-]{1,128}$/.test(value)) {
    errors.add('MANAGED_SPEC_HASH_INVALID', 'managed_spec_hash must be 1 to 128 letters, digits, ":", "_" or "-", or null', pointer);
    return undefined;
  }
  return value;
}
