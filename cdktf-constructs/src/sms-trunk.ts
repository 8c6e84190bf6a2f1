import crypto from 'node:crypto';
import type { ITerraformDependable, TerraformResource } from 'cdktf';
import { Construct } from 'constructs';
import type { DeclaredTrunkSpec } from '../../control-plane/src/cli/reconcile-input';
import { AllowedIpList } from './allowed-ip-list';
import { ControlPlane } from './control-plane';
import { errors, show } from './errors';
import { Reconciler } from './reconciler-resource';
import { ISourceDidSet } from './source-did-set';
import { checkCidrs, checkDids, checkHttpUrl, checkInteger, checkName, LIMITS } from './validation';

export interface SmsTrunkProps {
  /**
   * The trunk's friendly name, unique on the control plane. Renaming updates the same trunk: its
   * identity is `externalReferenceId`, so id and credentials stay.
   *
   * @default - the construct id
   */
  readonly name?: string;

  /**
   * Where the platform POSTs signed status callbacks and DLR events (http or https).
   *
   * @default - no callbacks
   */
  readonly callbackUrl?: string;

  /**
   * Client networks allowed to send through the trunk: CIDR strings and/or shared AllowedIpLists,
   * merged in order without duplicates (at most 100 entries in total).
   *
   * @default - any client address
   */
  readonly allowedIps?: ReadonlyArray<string | AllowedIpList>;

  /**
   * Allow every DID with the `sms_out` capability as sender, including DIDs added later.
   *
   * @default - true when neither sourceDids nor sourceDidSets is given, otherwise false
   */
  readonly anyDid?: boolean;

  /**
   * DIDs the trunk may send from, E.164 with or without "+". Each must exist with `sms_out`.
   *
   * @default - none
   */
  readonly sourceDids?: readonly string[];

  /**
   * Source-DID sets the trunk may send from; the trunk is deployed after the sets it uses.
   *
   * @default - none
   */
  readonly sourceDidSets?: readonly ISourceDidSet[];

  /**
   * Send DLR events to the callback URL as well as message status callbacks.
   *
   * @default false
   */
  readonly dlrEvents?: boolean;

  /**
   * Refuse all submissions through the trunk (it keeps its credentials).
   *
   * @default false
   */
  readonly blocked?: boolean;

  /**
   * Submissions per second accepted through the trunk (1 to 100,000).
   *
   * @default - no limit
   */
  readonly rateLimitPerSecond?: number;

  /**
   * Any value, e.g. `"2025-06"`. Each new value — including the first, on a new trunk or when the
   * prop is added — regenerates the password once; the old one stays valid for
   * `passwordRotationGraceSeconds`. Changing any other prop never touches the credentials.
   * Removing the prop does nothing.
   *
   * @default - the stack never rotates the password
   */
  readonly passwordRotation?: string;

  /**
   * How long the previous password keeps working after a rotation (0 to 604,800).
   *
   * @default 3600
   */
  readonly passwordRotationGraceSeconds?: number;

  /**
   * The trunk's stable identity on the control plane (`external_reference_id`, at most 100
   * characters). Set it to the old value when moving the construct elsewhere in the tree, so the
   * move does not create a new trunk.
   *
   * @default - "<stack>/<construct path>", shortened with a hash beyond 100 characters
   */
  readonly externalReferenceId?: string;

  /**
   * Where to reconcile the trunk.
   *
   * @default - the stack's only ControlPlane
   */
  readonly controlPlane?: ControlPlane;
}

/**
 * An SMS OUT trunk declared as code. Deploying creates it or updates it in place (an idempotent
 * upsert keyed by `externalReferenceId`); updates keep its id and credentials; removing it from the
 * stack deletes it.
 *
 * @example
 * new SmsTrunk(stack, 'Alerts', { callbackUrl: 'https://example.com/sms/callback' });
 */
export class SmsTrunk extends Construct {
  /** The trunk's friendly name. */
  readonly trunkName: string;
  /** The stable identity the trunk is keyed by (`external_reference_id`). */
  readonly externalReferenceId: string;
  /** The declared spec as trunkctl applies it (set members by name). */
  readonly spec: DeclaredTrunkSpec;
  /** The Terraform resource that reconciles the trunk. */
  readonly resource: TerraformResource;

  constructor(scope: Construct, id: string, props: SmsTrunkProps = {}) {
    super(scope, id);
    this.trunkName = checkName(this, 'name', props.name ?? id);
    this.externalReferenceId =
      props.externalReferenceId === undefined ? referenceFor(this.node.path) : checkName(this, 'externalReferenceId', props.externalReferenceId, LIMITS.externalReferenceLength);
    const callbackUrl = props.callbackUrl === undefined ? null : checkHttpUrl(this, 'callbackUrl', props.callbackUrl, 'https://example.com/sms/callback');

    const allowedIps = this.allowedIps(props.allowedIps ?? []);
    const outgoingDids = props.sourceDids === undefined ? [] : checkDids(this, 'sourceDids', props.sourceDids);
    const sets = [...(props.sourceDidSets ?? [])];
    const setNames = [...new Set(sets.map((s) => s.setName))];
    if (outgoingDids.length > LIMITS.sourceDids) throw errors.invalid(this, 'sourceDids', `lists ${outgoingDids.length} DIDs; at most ${LIMITS.sourceDids}: group them in SourceDidSets`);
    if (setNames.length > LIMITS.sourceSets) throw errors.invalid(this, 'sourceDidSets', `lists ${setNames.length} sets; at most ${LIMITS.sourceSets}`);
    const listsSources = outgoingDids.length > 0 || setNames.length > 0;
    const anyDid = props.anyDid ?? !listsSources;
    if (anyDid && listsSources) {
      throw errors.invalid(this, 'anyDid', 'is true while sourceDids or sourceDidSets are given; leave anyDid out (it is false when you list sources) or remove the lists');
    }
    if (!anyDid && !listsSources) throw errors.invalid(this, 'anyDid', 'is false but no sourceDids or sourceDidSets are given; list at least one sender, or leave anyDid out to allow any DID');

    this.spec = {
      name: this.trunkName,
      callback_url: callbackUrl,
      allowed_ips: allowedIps,
      allow_any_did_as_source: anyDid,
      outgoing_dids: outgoingDids,
      outgoing_did_sets: setNames,
      dlr_events: props.dlrEvents ?? false,
      blocked: props.blocked ?? false,
      rate_limit_per_second:
        props.rateLimitPerSecond === undefined ? null : checkInteger(this, 'rateLimitPerSecond', props.rateLimitPerSecond, 1, LIMITS.rateLimitPerSecond, 'submissions per second'),
    };

    const controlPlane = props.controlPlane ?? ControlPlane.of(this);
    const reconciler = new Reconciler(this, 'Resource', {
      target: controlPlane,
      body: { kind: 'sms_trunk', ref: this.externalReferenceId, spec: this.spec },
      destroyStep: true,
      dependsOn: sets.map((s) => s.dependable).filter((d): d is ITerraformDependable => d !== undefined),
      tooLargeFix: 'Move the sourceDids into SourceDidSets.',
    });
    this.resource = reconciler.resource;
    controlPlane._declare('trunk', this.externalReferenceId, this.resource);

    if (props.passwordRotation !== undefined) {
      const rotation = checkName(this, 'passwordRotation', props.passwordRotation, 200);
      const grace = checkInteger(this, 'passwordRotationGraceSeconds', props.passwordRotationGraceSeconds ?? 3600, 0, LIMITS.graceSeconds, 'seconds');
      new Reconciler(this, 'PasswordRotation', {
        target: controlPlane,
        body: { kind: 'password_rotation', ref: this.externalReferenceId, grace_seconds: grace },
        destroyStep: false,
        dependsOn: [this.resource],
        // Only the value: a new grace period, URL or token variable must not rotate by itself.
        replaceOn: { password_rotation: rotation },
        tooLargeFix: 'Shorten passwordRotation.',
      });
    } else if (props.passwordRotationGraceSeconds !== undefined) {
      throw errors.invalid(this, 'passwordRotationGraceSeconds', `is ${show(props.passwordRotationGraceSeconds)} but passwordRotation is not set; set both or neither`);
    }
  }

  private allowedIps(items: ReadonlyArray<string | AllowedIpList>): string[] {
    if (!Array.isArray(items)) throw errors.invalid(this, 'allowedIps', 'must be an array of CIDR strings and/or AllowedIpLists');
    const out: string[] = [];
    items.forEach((item, i) => {
      let cidrs: readonly string[];
      if (item instanceof AllowedIpList) cidrs = item.cidrs;
      else if (typeof item === 'string') cidrs = checkCidrs(this, 'allowedIps', [item], i);
      else throw errors.invalid(this, `allowedIps[${i}]`, `must be a CIDR string or an AllowedIpList, got ${show(item)}`);
      for (const c of cidrs) if (!out.includes(c)) out.push(c);
    });
    if (out.length > LIMITS.allowedIps) {
      throw errors.invalid(this, 'allowedIps', `adds up to ${out.length} entries; a trunk allows at most ${LIMITS.allowedIps}: use wider prefixes or fewer lists`);
    }
    return out;
  }
}

/** `<stack>/<path>`: stable while the construct stays where it is in the tree. */
function referenceFor(constructPath: string): string {
  if (constructPath.length <= LIMITS.externalReferenceLength) return constructPath;
  const digest = crypto.createHash('sha256').update(constructPath).digest('hex').slice(0, 16);
  return `${constructPath.slice(0, LIMITS.externalReferenceLength - 17)}~${digest}`;
}
