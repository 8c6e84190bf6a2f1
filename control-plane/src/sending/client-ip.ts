import type { IncomingMessage } from 'node:http';
import { CidrRange, matchesAny, parseCidr, parseClientIp } from '../trunks/cidr';

/**
 * The client address is the socket's. X-Forwarded-For is honoured only when the socket peer is a
 * configured proxy, and then the right-most address that is not itself a trusted proxy is the client
 * (left-most entries are whatever the client chose to send).
 */
export class ClientIpResolver {
  private readonly proxies: CidrRange[];

  constructor(trustedProxies: string[]) {
    this.proxies = trustedProxies.map((p) => {
      const r = parseCidr(p);
      if (!r.ok) throw new Error(`TRUSTED_PROXIES entry ${JSON.stringify(p)} ${r.reason}`);
      return r.range;
    });
  }

  resolve(req: IncomingMessage): string | undefined {
    const peer = req.socket.remoteAddress;
    if (this.proxies.length === 0) return peer;
    const peerAddr = parseClientIp(peer);
    if (!peerAddr || !matchesAny(peerAddr, this.proxies)) return peer;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((s) => s.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const addr = parseClientIp(hops[i]);
      if (!addr) return peer;
      if (!matchesAny(addr, this.proxies)) return hops[i];
    }
    return peer;
  }
}
