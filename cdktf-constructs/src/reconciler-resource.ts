import { execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  anyToHclTerraform,
  anyToTerraform,
  App,
  Fn,
  hashMapper,
  hashMapperHcl,
  ITerraformDependable,
  LocalExecProvisioner,
  TerraformMetaArguments,
  TerraformResource,
  TerraformStack,
  Token,
} from 'cdktf';
import type { Construct, IValidation } from 'constructs';
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

/** How the provisioners run `trunkctl reconcile`. */
export enum ReconcileRunner {
  /**
   * `sh …/control-plane/bin/trunkctl-reconcile.sh apply|destroy`: every step of one `terraform
   * apply` is run by one shared trunkctl process, each step still with its own output, exit code
   * and failure (see docs/TRUNKS-AS-CODE.md). Needs a POSIX `sh` where Terraform runs.
   */
  SHARED_PROCESS = 'shared-process',
  /**
   * `node …/control-plane/bin/trunkctl.js reconcile apply|destroy`: one node process per step.
   * Needs only node (e.g. Terraform on Windows without a POSIX shell), but each step costs a node
   * start-up (~0.15 s of CPU): a deploy of 200 trunks takes minutes instead of seconds.
   */
  PROCESS_PER_RESOURCE = 'process-per-resource',
}

/** What a ControlPlane tells the resources it reconciles through. */
export interface ReconcilerTarget {
  readonly url: string;
  readonly tokenEnvVar: string;
  readonly managedBy: string;
  readonly resourceType: ReconcilerResourceType;
  readonly reconcileRunner: ReconcileRunner;
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
    const interpreter =
      options.target.reconcileRunner === ReconcileRunner.PROCESS_PER_RESOURCE
        ? ['node', trunkctlFromStackDir(scope, options.target.trunkctlPath), 'reconcile']
        : ['sh', trunkctlFromStackDir(scope, path.join(path.dirname(options.target.trunkctlPath), RECONCILE_SCRIPT))];
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
      this.resource = new TerraformData(scope, id, { ...meta, input, triggersReplace: { spec_hash: hash }, provisioners });
    }
  }

  /** Replaces the input (the prune list grows as trunks and sets register). */
  update(body: InputBody): void {
    const { input, hash } = this.render(body);
    if (this.resource instanceof TerraformData) {
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

/**
 * Terraform's built-in `terraform_data`, synthesized exactly as cdktf's `DataResource` does. Not
 * that class: each `DataResource` adds a validation running `terraform version` (a child process of
 * ~0.1 s) at synth time, i.e. one per trunk and set; a stack of 200 trunks spent over 30 s on them.
 * The ControlPlane checks the Terraform version once per stack instead (`TerraformVersionCheck`).
 */
export class TerraformData extends TerraformResource {
  input?: Record<string, unknown>;
  triggersReplace?: Record<string, unknown>;

  constructor(scope: Construct, id: string, config: TerraformMetaArguments & { input?: Record<string, unknown>; triggersReplace?: Record<string, unknown> }) {
    super(scope, id, {
      terraformResourceType: 'terraform_data',
      terraformGeneratorMetadata: { providerName: 'terraform' },
      dependsOn: config.dependsOn,
      lifecycle: config.lifecycle,
      provisioners: config.provisioners,
    });
    this.input = config.input;
    this.triggersReplace = config.triggersReplace;
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return { input: hashMapper(anyToTerraform)(this.input), triggers_replace: hashMapper(anyToTerraform)(this.triggersReplace) };
  }

  protected override synthesizeHclAttributes(): Record<string, unknown> {
    return { input: hashMapperHcl(anyToHclTerraform)(this.input), triggers_replace: hashMapperHcl(anyToHclTerraform)(this.triggersReplace) };
  }
}

/**
 * `terraform_data` needs Terraform ≥ 1.4: the check cdktf's `DataResource` makes per resource,
 * made once per stack (on the ControlPlane) and remembered for the process.
 */
export class TerraformVersionCheck implements IValidation {
  private static readonly results = new Map<string, string[]>();

  validate(): string[] {
    const binary = process.env.TERRAFORM_BINARY_NAME || 'terraform';
    let result = TerraformVersionCheck.results.get(binary);
    if (!result) {
      result = checkTerraformVersion(binary);
      TerraformVersionCheck.results.set(binary, result);
    }
    return result;
  }
}

function checkTerraformVersion(binary: string): string[] {
  let output: string;
  try {
    // As cdktf runs it: through the shell, so TERRAFORM_BINARY_NAME may be a command line.
    output = execSync(`${binary} version`, { stdio: 'pipe', encoding: 'utf8' });
  } catch (err) {
    return [`Could not determine version of ${binary}, \`${binary} version\` failed: ${(err as Error).message}`];
  }
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(output);
  if (!m) return [`Could not determine version of ${binary} (running \`${binary} version\`)`];
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major > 1 || (major === 1 && minor >= 4)) return [];
  return [`${binary} version ${m[0]} is lower than the required version >=1.4 for this construct. The built-in Terraform data resource is only supported for Terraform >=1.4. Please upgrade your Terraform version.`];
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

/** The provisioners' script of ReconcileRunner.SHARED_PROCESS, next to trunkctl.js. */
export const RECONCILE_SCRIPT = 'trunkctl-reconcile.sh';

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
