import type { ITerraformDependable } from 'cdktf';
import { Construct } from 'constructs';
import { ControlPlane } from './control-plane';
import { errors } from './errors';
import { Reconciler } from './reconciler-resource';
import { checkDids, checkName, isToken, LIMITS } from './validation';

/** A source-DID set a trunk can send from: one declared in this stack, or one that already exists. */
export interface ISourceDidSet {
  /** The set's name: its identity on the control plane. */
  readonly setName: string;
  /** The resource a trunk must wait for; absent for sets this stack does not manage. */
  readonly dependable?: ITerraformDependable;
}

export interface SourceDidSetProps {
  /**
   * The set's name, unique on the control plane; it is the set's identity (`PUT
   * /v1/did_sets/by-name/{name}`), so renaming creates a new set and deletes the old one.
   *
   * @default - the construct id
   */
  readonly name?: string;

  /**
   * The DIDs, E.164 with or without "+" (`"+12125551234"`). Each must already exist on the control
   * plane with the `sms_out` capability: sets reference DIDs, they never create or delete them.
   */
  readonly dids: readonly string[];

  /**
   * Where to reconcile the set.
   *
   * @default - the stack's only ControlPlane
   */
  readonly controlPlane?: ControlPlane;
}

/**
 * A named, reusable set of DIDs that trunks may send from. Changing the DIDs updates the set in
 * place; every trunk that uses it sees the change at once.
 *
 * @example
 * const us = new SourceDidSet(stack, 'UsSenders', { name: 'us-senders', dids: ['+12125551234'] });
 */
export class SourceDidSet extends Construct implements ISourceDidSet {
  /** A set that exists on the control plane but is not managed by this stack. */
  static fromSetName(_scope: Construct, _id: string, setName: string): ISourceDidSet {
    return { setName };
  }

  /** The set's name on the control plane. */
  readonly setName: string;
  /** The DIDs in API form (digits, no "+"), de-duplicated in the order given. */
  readonly dids: readonly string[];
  readonly dependable: ITerraformDependable;

  constructor(scope: Construct, id: string, props: SourceDidSetProps) {
    super(scope, id);
    this.setName = checkName(this, 'name', props.name ?? id);
    if (!isToken(props.dids) && !Array.isArray(props.dids)) throw errors.invalid(this, 'dids', 'must be an array of E.164 numbers such as ["+12125551234"]');
    this.dids = isToken(props.dids) ? props.dids : checkDids(this, 'dids', props.dids);
    if (!isToken(props.dids) && this.dids.length > LIMITS.sourceDids) {
      throw errors.invalid(this, 'dids', `holds ${this.dids.length} DIDs; a set holds at most ${LIMITS.sourceDids}: split them over several sets`);
    }
    const controlPlane = props.controlPlane ?? ControlPlane.of(this);
    const reconciler = new Reconciler(this, 'Resource', {
      target: controlPlane,
      body: { kind: 'did_set', name: this.setName, spec: { dids: [...this.dids] } },
      destroyStep: true,
      tooLargeFix: 'Split the DIDs over several SourceDidSets (about 7,000 fit in one); a trunk can use up to 100 sets.',
    });
    this.dependable = reconciler.resource;
    controlPlane._declare('did_set', this.setName, reconciler.resource);
  }
}
