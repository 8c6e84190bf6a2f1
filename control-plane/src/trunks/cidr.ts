import ipaddr from 'ipaddr.js';

/** Parsed CIDR ready for matching; built once per trunk version, never per request. */
export interface CidrRange {
  kind: 'ipv4' | 'ipv6';
  addr: ipaddr.IPv4 | ipaddr.IPv6;
  bits: number;
}

export type CidrResult = { ok: true; cidr: string; range: CidrRange } | { ok: false; reason: string };

/**
 * Parses `(IPv4|IPv6)[/mask]` strictly and returns the canonical CIDR:
 * - a bare address becomes /32 or /128;
 * - IPv4 must be four decimal parts (no octal, hex or short forms);
 * - IPv6 is written in RFC 5952 form (lower case, `::` compression);
 * - IPv4-mapped IPv6 (`::ffff:a.b.c.d[/96+n]`) becomes the IPv4 entry (`a.b.c.d/n`);
 * - host bits set below the mask are an error that names both fixes, rather than a silent change
 *   that would make the stored value differ from what was declared (and show as drift).
 */
export function parseCidr(input: string): CidrResult {
  const text = input.trim();
  if (text === '') return { ok: false, reason: 'is empty' };
  if (text.includes('%')) return { ok: false, reason: 'has a zone index (%…); use the address without it' };
  const parts = text.split('/');
  if (parts.length > 2) return { ok: false, reason: 'has more than one "/"' };
  const [addrText, maskText] = parts as [string, string | undefined];
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  if (ipaddr.IPv4.isValidFourPartDecimal(addrText)) {
    addr = ipaddr.IPv4.parse(addrText);
  } else if (addrText.includes(':') && ipaddr.IPv6.isValid(addrText)) {
    addr = ipaddr.IPv6.parse(addrText);
  } else {
    return { ok: false, reason: 'is not an IPv4 address (four decimal parts such as 203.0.113.7) or an IPv6 address (such as 2001:db8::1)' };
  }
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  let bits = max;
  if (maskText !== undefined) {
    if (!/^\d{1,3}$/.test(maskText) || Number(maskText) > max) {
      return { ok: false, reason: `has mask /${maskText}; an ${addr.kind() === 'ipv4' ? 'IPv4' : 'IPv6'} mask must be 0 to ${max}` };
    }
    bits = Number(maskText);
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    if (bits < 96) return { ok: false, reason: `is an IPv4-mapped address with mask /${bits}; the mask must be /96 to /128 (or write the IPv4 form)` };
    addr = (addr as ipaddr.IPv6).toIPv4Address();
    bits -= 96;
  }
  const network = ipaddr.parse(networkAddress(addr, bits));
  if (network.toString() !== addr.toString()) {
    const kindMax = addr.kind() === 'ipv4' ? 32 : 128;
    return {
      ok: false,
      reason: `has host bits set below /${bits}; use ${network.toString()}/${bits} for the network or ${addr.toString()}/${kindMax} for the single host`,
    };
  }
  const kind = addr.kind() as 'ipv4' | 'ipv6';
  return { ok: true, cidr: `${addr.toString()}/${bits}`, range: { kind, addr, bits } };
}

function networkAddress(addr: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string {
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** Parses a client address (socket or X-Forwarded-For), unwrapping IPv4-mapped IPv6. */
export function parseClientIp(ip: string | undefined): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (!ip) return undefined;
  try {
    const addr = ipaddr.parse(ip.includes('%') ? ip.slice(0, ip.indexOf('%')) : ip);
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return (addr as ipaddr.IPv6).toIPv4Address();
    return addr;
  } catch {
    return undefined;
  }
}

export function matchesAny(addr: ipaddr.IPv4 | ipaddr.IPv6, ranges: readonly CidrRange[]): boolean {
  for (const r of ranges) {
    if (r.kind === addr.kind() && (addr as ipaddr.IPv4).match(r.addr as ipaddr.IPv4, r.bits)) return true;
  }
  return false;
}
