import type ipaddr from 'ipaddr.js';
import { Knex } from 'knex';
import type { ChangeFeed } from '../shared/changes';
import { CidrRange, matchesAny, parseCidr, parseClientIp } from './cidr';

/** A trunk's send-time rules, compiled once per change: CIDRs parsed, sender DIDs in a Set. */
export interface TrunkPolicy {
  trunkId: string;
  version: number;
  blocked: boolean;
  callbackUrl: string | null;
  dlrEvents: boolean;
  rateLimitPerSecond: number | null;
  ranges: CidrRange[];
  anyDid: boolean;
  /** Allowed senders when `anyDid` is false (direct DIDs plus members of the trunk's sets). */
  dids: ReadonlySet<string>;
}

/**
 * Answers "may this trunk send from DID X, and from client IP Y?" without parsing or querying per
 * request. Policies are cached; any local configuration change clears the cache at once, and
 * entries older than `ttlMs` are reloaded so other instances' changes are seen within that time.
 */
export class TrunkAccess {
  private readonly policies = new Map<string, { policy: TrunkPolicy | null; loadedAtMs: number }>();
  /** Per-DID answers for any-DID trunks: senders are few, the DID inventory can be large. */
  private readonly smsOut = new Map<string, { allowed: boolean; loadedAtMs: number }>();
  private generation = 0;

  constructor(
    private readonly knex: Knex,
    changes: ChangeFeed,
    private readonly ttlMs = 1000,
  ) {
    changes.subscribe((kind) => {
      if (kind === 'credentials') return;
      this.generation++;
      this.policies.clear();
      this.smsOut.clear();
    });
  }

  /**
   * `db` must be given when called inside a transaction: with SQLite's single connection, a query
   * outside the open transaction would wait for it forever.
   */
  async policy(trunkId: string, db: Knex | Knex.Transaction = this.knex): Promise<TrunkPolicy | null> {
    const now = Date.now();
    const hit = this.policies.get(trunkId);
    if (hit && now - hit.loadedAtMs <= this.ttlMs) return hit.policy;
    const generation = this.generation;
    const policy = await this.load(trunkId, db);
    // A change that landed while we were loading makes this result stale: do not cache it.
    if (generation === this.generation) this.policies.set(trunkId, { policy, loadedAtMs: now });
    return policy;
  }

  isIpAllowed(policy: TrunkPolicy, clientIp: string | ipaddr.IPv4 | ipaddr.IPv6 | undefined): boolean {
    if (policy.ranges.length === 0) return true;
    const addr = typeof clientIp === 'string' || clientIp === undefined ? parseClientIp(clientIp) : clientIp;
    return addr !== undefined && matchesAny(addr, policy.ranges);
  }

  async isSourceAllowed(policy: TrunkPolicy, source: string): Promise<boolean> {
    if (!policy.anyDid) return policy.dids.has(source);
    return this.isSmsOutDid(source);
  }

  /** The helper the send path and tests call. */
  async check(trunkId: string, q: { clientIp?: string; source?: string }): Promise<{ exists: boolean; ipAllowed: boolean; sourceAllowed: boolean }> {
    const policy = await this.policy(trunkId);
    if (!policy) return { exists: false, ipAllowed: false, sourceAllowed: false };
    return {
      exists: true,
      ipAllowed: this.isIpAllowed(policy, q.clientIp),
      sourceAllowed: q.source === undefined ? false : await this.isSourceAllowed(policy, q.source),
    };
  }

  private async isSmsOutDid(did: string): Promise<boolean> {
    const now = Date.now();
    const hit = this.smsOut.get(did);
    if (hit && now - hit.loadedAtMs <= this.ttlMs) return hit.allowed;
    const generation = this.generation;
    const row = await this.knex('did_capabilities').where({ did_number: did, capability: 'sms_out' }).first('did_number');
    const allowed = row !== undefined;
    if (generation === this.generation) {
      if (this.smsOut.size > 100_000) this.smsOut.clear();
      this.smsOut.set(did, { allowed, loadedAtMs: now });
    }
    return allowed;
  }

  private async load(trunkId: string, db: Knex | Knex.Transaction): Promise<TrunkPolicy | null> {
    const row = await db('sms_trunks').where({ id: trunkId }).first();
    if (!row) return null;
    const ranges = (JSON.parse(row.allowed_ips) as string[]).flatMap((c) => {
      const parsed = parseCidr(c);
      return parsed.ok ? [parsed.range] : [];
    });
    const anyDid = Boolean(row.allow_any_did_as_source);
    const dids = new Set<string>();
    if (!anyDid) {
      const direct = await db('trunk_outgoing_dids')
        .join('did_capabilities', 'did_capabilities.did_number', 'trunk_outgoing_dids.did_number')
        .where({ trunk_id: trunkId, capability: 'sms_out' })
        .select('trunk_outgoing_dids.did_number as n');
      const viaSets = await db('trunk_outgoing_did_sets')
        .join('did_set_members', 'did_set_members.set_id', 'trunk_outgoing_did_sets.set_id')
        .join('did_capabilities', 'did_capabilities.did_number', 'did_set_members.did_number')
        .where({ trunk_id: trunkId, capability: 'sms_out' })
        .select('did_set_members.did_number as n');
      for (const r of [...direct, ...viaSets]) dids.add(r.n);
    }
    return {
      trunkId,
      version: Number(row.version),
      blocked: Boolean(row.blocked),
      callbackUrl: row.callback_url ?? null,
      dlrEvents: Boolean(row.dlr_events),
      rateLimitPerSecond: row.rate_limit_per_second === null || row.rate_limit_per_second === undefined ? null : Number(row.rate_limit_per_second),
      ranges,
      anyDid,
      dids,
    };
  }
}
