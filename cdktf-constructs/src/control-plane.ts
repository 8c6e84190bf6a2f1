import { IResolveContext, ITerraformDependable, TerraformResource, TerraformStack, Token } from 'cdktf';
import { Construct, IConstruct } from 'constructs';
import { errors } from './errors';
import { defaultTrunkctlPath, ensureNullProvider, ReconcileRunner, Reconciler, ReconcilerResourceType, ReconcilerTarget, TerraformVersionCheck } from './reconciler-resource';
import { checkEnvVarName, checkHttpUrl, checkName, LIMITS } from './validation';

export interface ControlPlaneProps {
  /**
   * Base URL of the control plane's management API, e.g. `https://trunks.example.com`. Not a
   * secret: it is written to cdk.tf.json and to the Terraform state.
   */
  readonly url: string;

  /**
   * Name of the environment variable that holds the admin token when `cdktf deploy` (or
   * `terraform apply`) runs. Only the name is synthesized; the token itself never reaches
   * cdk.tf.json or the state.
   *
   * @default "TRUNKCTL_TOKEN"
   */
  readonly tokenEnvVar?: string;

  /**
   * Ownership marker written to every trunk and set of this stack (`managed_by`). The API and the
   * panel refuse manual edits of managed resources unless forced. Must be unique per stack and
   * control plane: pruning deletes resources with this marker that the stack no longer declares.
   *
   * @default "cdktf:<stack name>"
   */
  readonly managedBy?: string;

  /**
   * The Terraform resource each trunk and set synthesizes to.
   *
   * @default ReconcilerResourceType.TERRAFORM_DATA — built in, no provider download
   */
  readonly resourceType?: ReconcilerResourceType;

  /**
   * How the provisioners run trunkctl: one shared process for all the steps of a `terraform
   * apply` (a POSIX `sh` runs `control-plane/bin/trunkctl-reconcile.sh`, next to trunkctl.js), or
   * one node process per step.
   *
   * @default ReconcileRunner.SHARED_PROCESS
   */
  readonly reconcileRunner?: ReconcileRunner;

  /**
   * Path of `control-plane/bin/trunkctl.js` on the synthesizing machine. It is synthesized relative
   * to the stack directory (cdktf.out/stacks/<stack>), where Terraform runs the provisioners.
   *
   * @default - the trunkctl of the checkout these constructs are loaded from
   */
  readonly trunkctlPath?: string;

  /**
   * Delete trunks and sets marked `managedBy` that the stack no longer declares. Terraform cannot
   * do this itself: a destroy-time provisioner does not run once its resource is removed from the
   * configuration.
   *
   * @default true
   */
  readonly prune?: boolean;
}

/**
 * Where the trunks and sets of a stack are reconciled: the control plane URL, the environment
 * variable holding the admin token, and the stack's ownership marker. One per stack; trunks and
 * sets find it with `ControlPlane.of(this)` unless given one.
 *
 * @example
 * new ControlPlane(stack, 'ControlPlane', { url: 'https://trunks.example.com' });
 */
export class ControlPlane extends Construct implements ReconcilerTarget {
  /** The ControlPlane of the stack that holds `scope`. */
  static of(scope: IConstruct): ControlPlane {
    const found = TerraformStack.of(scope)
      .node.findAll()
      .filter((c): c is ControlPlane => c instanceof ControlPlane);
    if (found.length === 0) throw errors.noControlPlane(scope);
    if (found.length > 1) throw errors.manyControlPlanes(scope, found.map((c) => c.node.path));
    return found[0]!;
  }

  /** The control plane base URL, without a trailing slash. */
  readonly url: string;
  /** The environment variable read for the admin token at apply time. */
  readonly tokenEnvVar: string;
  /** The `managed_by` marker of this stack's trunks and sets. */
  readonly managedBy: string;
  readonly resourceType: ReconcilerResourceType;
  readonly reconcileRunner: ReconcileRunner;
  readonly trunkctlPath: string;
  /** Name of the stack, the directory under cdktf.out/stacks/ that `trunkctl drift` reads. */
  readonly stackName: string;

  private readonly declaredTrunks: string[] = [];
  private readonly declaredSets: string[] = [];
  private readonly pruner?: Reconciler;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    this.stackName = TerraformStack.of(this).node.id;
    this.url = checkHttpUrl(this, 'url', props.url, 'https://trunks.example.com').replace(/\/+$/, '');
    this.tokenEnvVar = checkEnvVarName(this, 'tokenEnvVar', props.tokenEnvVar ?? 'TRUNKCTL_TOKEN');
    this.managedBy = checkName(this, 'managedBy', props.managedBy ?? `cdktf:${this.stackName}`, LIMITS.managedByLength);
    this.resourceType = props.resourceType ?? ReconcilerResourceType.TERRAFORM_DATA;
    this.reconcileRunner = props.reconcileRunner ?? ReconcileRunner.SHARED_PROCESS;
    if (!Object.values(ReconcileRunner).includes(this.reconcileRunner)) {
      throw errors.invalid(this, 'reconcileRunner', `must be one of ${Object.values(ReconcileRunner).join(', ')}, got ${JSON.stringify(this.reconcileRunner)}`);
    }
    this.trunkctlPath = props.trunkctlPath ?? defaultTrunkctlPath();
    if (this.resourceType === ReconcilerResourceType.NULL_RESOURCE) ensureNullProvider(this);
    // terraform_data needs Terraform >= 1.4: checked once here, not once per resource (see TerraformData).
    else this.node.addValidation(new TerraformVersionCheck());
    if (props.prune ?? true) {
      this.pruner = new Reconciler(this, 'Prune', {
        target: this,
        body: this.pruneBody(),
        destroyStep: false,
        tooLargeFix: 'Split the trunks and sets over several stacks.',
      });
    }
  }

  /**
   * Called by SmsTrunk and SourceDidSet: the prune step runs after them and keeps what they declare.
   * @internal
   */
  _declare(kind: 'trunk' | 'did_set', key: string, resource: TerraformResource): void {
    (kind === 'trunk' ? this.declaredTrunks : this.declaredSets).push(key);
    if (!this.pruner) return;
    this.pruner.update(this.pruneBody());
    const prune = this.pruner.resource;
    prune.dependsOn = [...(prune.dependsOn ?? []), dependsOnEntry(resource)];
  }

  private pruneBody() {
    return { kind: 'prune' as const, trunks: [...this.declaredTrunks].sort(), did_sets: [...this.declaredSets].sort() };
  }
}

/** What cdktf writes for `dependsOn: [x]` ("terraform_data.x", no braces), for adding one later. */
function dependsOnEntry(target: ITerraformDependable): string {
  return Token.asString({
    creationStack: [],
    resolve: (context: IResolveContext) => {
      context.suppressBraces = true;
      return target.fqn;
    },
    toString: () => target.fqn,
  });
}
