import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { CidrRange, matchesAny, parseCidr, parseClientIp } from '../trunks/cidr';

/**
 * Callback targets must be public unicast addresses. Loopback, private (RFC 1918, ULA), link-local
 * (including cloud metadata at 169.254.169.254), CGNAT, multicast and reserved ranges are refused
 * unless listed in CALLBACK_ALLOW_CIDRS. The check runs on the address actually connected to (a DNS
 * lookup hook), so a name that resolves to a public address when saved and to 127.0.0.1 later
 * (DNS rebinding) is still refused.
 */
export class SsrfGuard {
  private readonly allowed: CidrRange[];

  constructor(allowCidrs: string[]) {
    this.allowed = allowCidrs.map((c) => {
      const r = parseCidr(c);
      if (!r.ok) throw new Error(`CALLBACK_ALLOW_CIDRS entry ${JSON.stringify(c)} ${r.reason}`);
      return r.range;
    });
  }

  /** Returns a reason when the address may not be called, undefined when it may. */
  refuse(address: string): string | undefined {
    const addr = parseClientIp(address);
    if (!addr) return `${address} is not an IP address`;
    if (matchesAny(addr, this.allowed)) return undefined;
    const range = addr.range();
    if (range === 'unicast') return undefined;
    return `${addr.toString()} is a ${range} address; callbacks go only to public addresses (allow it with CALLBACK_ALLOW_CIDRS)`;
  }

  /** Save-time check of a URL: literal IPs and localhost names are judged now, other names at delivery. */
  refuseUrl(url: string): string | undefined {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    if (ipaddr.isValid(host)) return this.refuse(host);
    if (host === 'localhost' || host.endsWith('.localhost')) return this.refuse('127.0.0.1');
    return undefined;
  }

  /** A `lookup` for http.Agent that fails the connection when any resolved address is refused. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return (callback as any)(err);
      const list = addresses as dns.LookupAddress[];
      for (const a of list) {
        const reason = this.refuse(a.address);
        if (reason) {
          const e = Object.assign(new Error(`callback blocked: ${hostname} resolves to ${reason}`), { code: 'SSRF_BLOCKED' });
          return (callback as any)(e);
        }
      }
      if ((options as dns.LookupOptions).all) return (callback as any)(null, list);
      return (callback as any)(null, list[0]!.address, list[0]!.family);
    });
  };
}
