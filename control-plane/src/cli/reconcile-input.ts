/**
 * The contract between the CDKTF constructs and `trunkctl reconcile`: each construct synthesizes
 * one Terraform resource whose `input` is one of these objects, and its local-exec provisioners
 * hand `jsonencode(self.input)` to trunkctl in this environment variable. Nothing here is secret:
 * the admin token is named (`token_env`), never carried.
 *
 * Kept free of cdktf imports so trunkctl loads it without the CDK toolchain.
 */
export const RESOURCE_ENV = 'TRUNKCTL_RESOURCE';

/** Bumped only for incompatible changes; trunkctl refuses formats it does not know. */
export const INPUT_FORMAT = 1;

/**
 * Linux caps one environment string at 128 KiB (MAX_ARG_STRLEN); the constructs refuse larger
 * inputs at synth time with a fix, rather than letting `terraform apply` fail with E2BIG.
 */
export const MAX_INPUT_BYTES = 120_000;

interface CommonInput {
  format: number;
  /** Control plane base URL, e.g. https://trunks.example.com. */
  api: string;
  /** Name of the environment variable that holds the admin token at apply time. */
  token_env: string;
  /** Stack ownership marker written to managed_by, e.g. "cdktf:payments-prod". */
  managed_by: string;
}

/** What a trunk declares; set members are names, resolved to ids at apply time. */
export interface DeclaredTrunkSpec {
  name: string;
  callback_url: string | null;
  allowed_ips: string[];
  allow_any_did_as_source: boolean;
  outgoing_dids: string[];
  outgoing_did_sets: string[];
  dlr_events: boolean;
  blocked: boolean;
  rate_limit_per_second: number | null;
}

export interface TrunkInput extends CommonInput {
  kind: 'sms_trunk';
  /** external_reference_id: the trunk's identity, stable across renames. */
  ref: string;
  spec: DeclaredTrunkSpec;
  spec_hash: string;
}

export interface DidSetInput extends CommonInput {
  kind: 'did_set';
  name: string;
  spec: { dids: string[] };
  spec_hash: string;
}

export interface PasswordRotationInput extends CommonInput {
  kind: 'password_rotation';
  ref: string;
  grace_seconds: number;
  spec_hash: string;
}

/** Deletes what this stack once applied and no longer declares (Terraform cannot: see the docs). */
export interface PruneInput extends CommonInput {
  kind: 'prune';
  trunks: string[];
  did_sets: string[];
  spec_hash: string;
}

export type ReconcileInput = TrunkInput | DidSetInput | PasswordRotationInput | PruneInput;
export type ReconcileKind = ReconcileInput['kind'];
export const RECONCILE_KINDS: readonly ReconcileKind[] = ['sms_trunk', 'did_set', 'password_rotation', 'prune'];

/** JSON with object keys sorted at every level, so equal values always hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (64 hex characters) of everything an input declares except its own hash. */
export function specHash(input: Record<string, unknown>): string {
  const { spec_hash: _ignored, ...rest } = input;
  // Required here: `trunkctl reconcile` never hashes, and node:crypto costs it start-up time.
  const crypto: typeof import('node:crypto') = require('node:crypto');
  return crypto.createHash('sha256').update(canonicalJson(rest)).digest('hex');
}
