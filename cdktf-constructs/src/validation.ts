import type { IConstruct } from 'constructs';
import { Token } from 'cdktf';
// The control plane's own parser: a declared CIDR is canonicalized exactly as the API stores it,
// so the synthesized spec equals the live one and drift checks compare like with like.
import { parseCidr } from '../../control-plane/src/trunks/cidr';
import { errors, show } from './errors';

/** Limits mirrored from the control plane (control-plane/src/trunks/trunk-validation.ts). */
export const LIMITS = {
  nameLength: 100,
  urlLength: 2048,
  allowedIps: 100,
  sourceDids: 10_000,
  sourceSets: 100,
  rateLimitPerSecond: 100_000,
  graceSeconds: 604_800,
  externalReferenceLength: 100,
  managedByLength: 200,
} as const;

export const isToken = (value: unknown): boolean => Token.isUnresolved(value);

// Terraform reads "${…}" and "%{…}" inside any string of cdk.tf.json as a template.
const TEMPLATE = /[$%]\{/;
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkName(scope: IConstruct, prop: string, value: unknown, max: number = LIMITS.nameLength): string {
  if (isToken(value)) return value as string;
  if (typeof value !== 'string' || value.trim() === '') throw errors.invalid(scope, prop, `must be a non-empty string, got ${show(value)}`);
  if (value !== value.trim()) throw errors.invalid(scope, prop, `${show(value)} has leading or trailing spaces; write ${show(value.trim())}`);
  if (value.length > max) throw errors.invalid(scope, prop, `must be at most ${max} characters, got ${value.length}: ${show(value)}; shorten it`);
  if (CONTROL.test(value)) throw errors.invalid(scope, prop, `${show(value)} contains control characters; use printable characters only`);
  if (TEMPLATE.test(value)) throw errors.invalid(scope, prop, `${show(value)} contains "\${" or "%{", which Terraform would read as a template; remove it`);
  return value;
}

export function checkHttpUrl(scope: IConstruct, prop: string, value: unknown, example: string): string {
  if (isToken(value)) return value as string;
  if (typeof value !== 'string') throw errors.invalid(scope, prop, `must be a URL string, got ${show(value)}`);
  if (value.length > LIMITS.urlLength) throw errors.invalid(scope, prop, `must be at most ${LIMITS.urlLength} characters, got ${value.length}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw errors.invalid(scope, prop, `${show(value)} is not an absolute URL; write it like ${example}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw errors.invalid(scope, prop, `${show(value)} must use http or https; write it like ${example}`);
  if (url.username !== '' || url.password !== '') throw errors.invalid(scope, prop, `${show(value)} must not carry user:password@; remove the credentials from the URL`);
  if (/\s/.test(value) || url.hostname === '') throw errors.invalid(scope, prop, `${show(value)} has whitespace or no host; write it like ${example}`);
  if (TEMPLATE.test(value)) throw errors.invalid(scope, prop, `${show(value)} contains "\${" or "%{", which Terraform would read as a template; remove it`);
  return value;
}

/** Canonical CIDRs in the order given, de-duplicated as the API does. */
export function checkCidrs(scope: IConstruct, prop: string, values: readonly unknown[], firstIndex = 0): string[] {
  const out: string[] = [];
  values.forEach((v, j) => {
    const i = firstIndex + j;
    if (isToken(v)) {
      out.push(v as string);
      return;
    }
    if (typeof v !== 'string') throw errors.invalid(scope, `${prop}[${i}]`, `must be a string such as "203.0.113.0/24" or "2001:db8::/48", got ${show(v)}`);
    const parsed = parseCidr(v);
    if (!parsed.ok) throw errors.invalid(scope, `${prop}[${i}]`, `${show(v)} ${parsed.reason}`);
    if (!out.includes(parsed.cidr)) out.push(parsed.cidr);
  });
  return out;
}

const E164 = /^\+?[1-9]\d{6,14}$/;

/** E.164 numbers, given with or without "+", stored as the API's DID ids (digits only). */
export function checkDids(scope: IConstruct, prop: string, values: readonly unknown[]): string[] {
  const out: string[] = [];
  values.forEach((v, i) => {
    if (isToken(v)) {
      out.push(v as string);
      return;
    }
    const text = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v;
    if (typeof text !== 'string' || !E164.test(text)) {
      throw errors.invalid(
        scope,
        `${prop}[${i}]`,
        `${show(v)} is not an E.164 number; write "+" and 7 to 15 digits with the country code and no spaces or dashes, e.g. "+12125551234"`,
      );
    }
    const digits = text.replace(/^\+/, '');
    if (!out.includes(digits)) out.push(digits);
  });
  return out;
}

export function checkInteger(scope: IConstruct, prop: string, value: unknown, min: number, max: number, unit: string): number {
  if (isToken(value)) return value as number;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw errors.invalid(scope, prop, `must be a whole number of ${unit} from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

export function checkEnvVarName(scope: IConstruct, prop: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(value)) {
    // A value that looks like a token (or anything else not a variable name) must not end up in cdk.tf.json.
    throw errors.invalid(
      scope,
      prop,
      `must be the NAME of the environment variable that holds the admin token (letters, digits and "_", e.g. "TRUNKCTL_TOKEN"), never the token itself; got a ${typeof value} of ${String(value).length} characters`,
    );
  }
  if (/^sat_/.test(value)) throw errors.invalid(scope, prop, 'looks like an admin token; pass the name of the variable that holds it, e.g. "TRUNKCTL_TOKEN"');
  return value;
}

