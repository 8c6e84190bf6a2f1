import { ErrorCollector } from '../errors';
import { short } from '../http/jsonapi';

/** E.164 without the leading `+`: a country code (never starting with 0) and 7 to 15 digits in all. */
export const E164_DIGITS = /^[1-9][0-9]{6,14}$/;
export const DID_CAPABILITIES = ['sms_out', 'sms_in', 'voice_in', 'voice_out'] as const;
export type DidCapability = (typeof DID_CAPABILITIES)[number];

export function checkDidNumber(value: unknown, pointer: string, errors: ErrorCollector): string | undefined {
  if (typeof value !== 'string') {
    errors.add('DID_NUMBER_INVALID', `number must be a string of digits, got ${short(value)}`, pointer);
    return undefined;
  }
  if (!E164_DIGITS.test(value)) {
    const hint = value.startsWith('+')
      ? 'drop the leading "+"'
      : /\s|-|\(|\)/.test(value)
        ? 'remove spaces, dashes and brackets'
        : 'use 7 to 15 digits with the country code first (no leading 0)';
    errors.add('DID_NUMBER_INVALID', `${short(value)} is not an E.164 number in digits: ${hint}, e.g. 12125551234`, pointer);
    return undefined;
  }
  return value;
}

export function checkCapabilities(value: unknown, pointer: string, errors: ErrorCollector): DidCapability[] | undefined {
  if (!Array.isArray(value)) {
    errors.add('DID_CAPABILITIES_INVALID', `capabilities must be an array such as ["sms_out"], got ${short(value)}`, pointer);
    return undefined;
  }
  const out: DidCapability[] = [];
  let ok = true;
  value.forEach((c, i) => {
    if (typeof c !== 'string' || !(DID_CAPABILITIES as readonly string[]).includes(c)) {
      errors.add('DID_CAPABILITY_UNKNOWN', `${short(c)} is not a capability; use one of ${DID_CAPABILITIES.join(', ')}`, `${pointer}/${i}`);
      ok = false;
    } else if (!out.includes(c as DidCapability)) out.push(c as DidCapability);
  });
  return ok ? out.sort() : undefined;
}

export function checkDescription(value: unknown, pointer: string, errors: ErrorCollector): string | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'string' || value.length > 255 || /[\u0000-\u001f\u007f]/.test(value)) {
    errors.add('DID_DESCRIPTION_INVALID', 'description must be text of at most 255 characters without control characters, or null', pointer);
    return undefined;
  }
  return value.trim() === '' ? null : value.trim();
}
