import fs from 'node:fs';
import path from 'node:path';
import { App, DataResource, Fn, ITerraformDependable, LocalExecProvisioner, TerraformResource, TerraformStack, Token } from 'cdktf';
import type { Construct } from 'constructs';
import { INPUT_FORMAT, MAX_INPUT_BYTES, RESOURCE_ENV, ReconcileInput, specHash } from '../../control-plane/src/cli/reconcile-input';
import { errors } from './errors';

/** Which Terraform resource carries each construct's spec and provisioners. */
export enum ReconcilerResourceType {
  /**
   * Terraform's built-in `terraform_data` (Terraform ≥ 1.4): no provider to download, so it deploys
   * on air-gapped CI.
   */
  TERRAFORM_DATA = 'terraform_data',
  /**
   * `null_resource` from the hashicorp/null provider, for teams that standardise on it. `terraform
   * init` must be able to download (or find in a mirror) the provider.
   */
  NULL_RESOURCE = 'null_resource',
}

/** What a ControlPlane tells the resources it reconciles through. */
export interface ReconcilerTarget {
  readonly url: string;
  readonly tokenEnvVar: string;
  readonly managedBy: string;
  readonly resourceType: ReconcilerResourceType;
  /** Absolute path of trunkctl.js on the synthesizing machine; written relative to the stack directory. */
  readonly trunkctlPath: string;
}

/** Everything of an input except the parts every kind shares and its hash. */
export type InputBody = DistributiveOmit<ReconcileInput, 'format' | 'api' | 'token_env' | 'managed_by' | 'spec_hash'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface ReconcilerOptions {
  readonly target: ReconcilerTarget;
  readonly body: InputBody;
  /** Runs `trunkctl reconcile destroy` when the resource is destroyed. */
  readonly destroyStep: boolean;
  readonly dependsOn?: ITerraformDependable[];
  /** What to tell the user when the input is too large for the provisioner environment. */
  readonly tooLargeFix: string;
  /**
   * The values whose change replaces the resource (and so re-runs its create step).
   *
   * @default - the whole input
   */
  readonly replaceOn?: Record<string, unknown>;
}

/**
 * The Terraform resource behind a construct: input = the canonical spec, replacement trigger = its
 * hash, create_before_destroy, and local-exec provisioners running the project's compiled trunkctl.
 */
export class Reconciler {
  readonly resource: TerraformResource;
  private readonly target: ReconcilerTarget;
  private readonly scope: Construct;
  private readonly tooLargeFix: string;
  private readonly replaceOn?: Record<string, unknown>;

  constructor(scope: Construct, id: string, options: ReconcilerOptions) {
    this.scope = scope;
    this.target = options.target;
    this.tooLargeFix = options.tooLargeFix;
    this.replaceOn = options.replaceOn;
    const interpreter = ['node', trunkctlFromStackDir(scope, options.target.trunkctlPath), 'reconcile'];
    const provisioner = (when: 'create' | 'destroy', env: string): LocalExecProvisioner => ({
      type: 'local-exec',
      when,
      interpreter,
      command: when === 'create' ? 'apply' : 'destroy',
      environment: { [RESOURCE_ENV]: env },
    });
    const { input, hash } = this.render(options.body);
    const meta = {
      lifecycle: { createBeforeDestroy: true },
      dependsOn: options.dependsOn,
    };
    if (options.target.resourceType === ReconcilerResourceType.NULL_RESOURCE) {
      const env = '${self.triggers.resource}';
      const provisioners = [provisioner('create', env), ...(options.destroyStep ? [provisioner('destroy', env)] : [])];
      this.resource = new (nullProvider().Resource)(scope, id, { ...meta, triggers: this.triggers(input, hash), provisioners });
    } else {
      const env = '${jsonencode(self.input)}';
      const provisioners = [provisioner('create', env), ...(options.destroyStep ? [provisioner('destroy', env)] : [])];
      this.resource = new DataResource(scope, id, { ...meta, input, triggersReplace: { spec_hash: hash }, provisioners });
    }
  }

  /** Replaces the input (the prune list grows as trunks and sets register). */
  update(body: InputBody): void {
    const { input, hash } = this.render(body);
    if (this.resource instanceof DataResource) {
      this.resource.input = input;
      this.resource.triggersReplace = { spec_hash: hash };
    } else {
      (this.resource as unknown as { triggers: Record<string, string> }).triggers = this.triggers(input, hash);
    }
  }

  private triggers(input: Record<string, unknown>, hash: string): Record<string, string> {
    return { spec_hash: hash, resource: Token.isUnresolved(input) || hasToken(input) ? Fn.jsonencode(input) : JSON.stringify(input) };
  }

  private render(body: InputBody): { input: Record<string, unknown>; hash: string } {
    const t = this.target;
    const base: Record<string, unknown> = { format: INPUT_FORMAT, api: t.url, token_env: t.tokenEnvVar, managed_by: t.managedBy, ...body };
    // A value known only at apply time (a token) makes the hash a Terraform expression over the same object.
    const hashed = this.replaceOn ?? base;
    const hash = hasToken(hashed) ? Fn.sha256(Fn.jsonencode(hashed)) : specHash(hashed);
    const input = { ...base, spec_hash: hash };
    if (!hasToken(input)) {
      const bytes = Buffer.byteLength(JSON.stringify(input)) + RESOURCE_ENV.length + 1;
      if (bytes > MAX_INPUT_BYTES) throw errors.inputTooLarge(this.scope, bytes, MAX_INPUT_BYTES, this.tooLargeFix);
    }
    return { input, hash };
  }
}

function hasToken(value: unknown): boolean {
  if (Token.isUnresolved(value)) return true;
  if (Array.isArray(value)) return value.some(hasToken);
  if (value !== null && typeof value === 'object') return Object.values(value).some(hasToken);
  return false;
}

/** Loaded only when the null_resource option is used: the provider bindings are large. */
function nullProvider(): typeof import('@cdktf/provider-null/lib/resource') {
  return require('@cdktf/provider-null/lib/resource');
}

export function ensureNullProvider(scope: Construct): void {
  const stack = TerraformStack.of(scope);
  const { NullProvider } = require('@cdktf/provider-null/lib/provider') as typeof import('@cdktf/provider-null/lib/provider');
  if (stack.node.findAll().some((c) => c instanceof NullProvider)) return;
  new NullProvider(stack, 'null');
}

/** control-plane/bin/trunkctl.js of the checkout these constructs are loaded from (source or dist). */
export function defaultTrunkctlPath(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'control-plane', 'bin', 'trunkctl.js');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`cannot find control-plane/bin/trunkctl.js above ${__dirname}; pass trunkctlPath to ControlPlane`);
  }
}

/**
 * Terraform runs local-exec in the stack's working directory (cdktf.out/stacks/<stack>, also under
 * `terraform -chdir`), so a path relative to it works on any checkout with the same layout — no
 * absolute path of the synthesizing machine ends up in cdk.tf.json.
 */
export function trunkctlFromStackDir(scope: Construct, trunkctlPath: string): string {
  const stackDir = path.resolve(App.of(scope).outdir, 'stacks', TerraformStack.of(scope).node.id);
  const rel = path.relative(stackDir, path.resolve(trunkctlPath)).split(path.sep).join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}
