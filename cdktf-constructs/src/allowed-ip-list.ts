import { Construct } from 'constructs';
import { errors } from './errors';
import { checkCidrs, checkName, LIMITS } from './validation';

export interface AllowedIpListProps {
  /**
   * Networks and hosts, `(IPv4|IPv6)[/mask]`. A bare address means one host (/32 or /128); IPv6 is
   * stored in RFC 5952 form. Host bits below the mask are an error (`10.0.0.5/24`), as in the API.
   */
  readonly cidrs: readonly string[];

  /**
   * A label for messages and docs; the list has no identity on the control plane.
   *
   * @default - the construct id
   */
  readonly name?: string;
}

/**
 * A named, reusable list of client networks that several trunks can share.
 *
 * It exists only at synth time: its CIDRs are folded into the `allowed_ips` of every trunk that
 * uses it, so changing the list updates those trunks (in place, keeping their credentials) on the
 * next deploy. The control plane has no list object of its own to manage or to drift.
 *
 * @example
 * const offices = new AllowedIpList(stack, 'Offices', { cidrs: ['203.0.113.0/24', '2001:db8:1::/64'] });
 */
export class AllowedIpList extends Construct {
  /** The list's label. */
  readonly listName: string;
  /** Canonical CIDRs, de-duplicated in the order given. */
  readonly cidrs: readonly string[];

  constructor(scope: Construct, id: string, props: AllowedIpListProps) {
    super(scope, id);
    this.listName = checkName(this, 'name', props.name ?? id);
    if (!Array.isArray(props.cidrs)) throw errors.invalid(this, 'cidrs', 'must be an array such as ["203.0.113.0/24", "2001:db8::/48"]');
    this.cidrs = checkCidrs(this, 'cidrs', props.cidrs);
    if (this.cidrs.length > LIMITS.allowedIps) {
      throw errors.invalid(this, 'cidrs', `holds ${this.cidrs.length} entries; a trunk allows at most ${LIMITS.allowedIps}: use wider prefixes`);
    }
  }
}
