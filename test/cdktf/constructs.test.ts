import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { AllowedIpList, ControlPlane, ControlPlaneProps, ReconcileRunner, ReconcilerResourceType, SmsTrunk, SourceDidSet, TrunkPropsError } from '../../cdktf-constructs/src';
import { canonicalJson } from '../../control-plane/src/cli/reconcile-input';
import { ROOT } from '../support/build';

const STACK = 'payments';
const URL = 'https://trunks.example.com';
const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

let tmp: string;

let seq = 0;
/** Synthesizes one stack with a ControlPlane and returns its cdk.tf.json as an object. */
function synth(build: (stack: TerraformStack) => void, plane: Partial<ControlPlaneProps> = {}, outdir = path.join(tmp, `app-${++seq}`, 'cdktf.out')): any {
  fs.mkdirSync(outdir, { recursive: true });
  const app = Testing.app({ outdir });
  const stack = new TerraformStack(app, STACK);
  new ControlPlane(stack, 'ControlPlane', { url: URL, ...plane });
  build(stack);
  return JSON.parse(Testing.synth(stack));
}

const data = (json: any) => json.resource.terraform_data as Record<string, any>;
/** The one resource whose logical id starts with the construct path (ids are path + hash suffix). */
function resource(json: any, constructPath: string, type = 'terraform_data'): any {
  const prefix = constructPath.replace(/\//g, '_') + '_';
  const matches = Object.entries(json.resource[type] as Record<string, any>).filter(([id]) => id.startsWith(prefix) && /^[A-F0-9]{8}$/.test(id.slice(prefix.length)));
  expect(matches.map(([id]) => id), `resources for ${constructPath}`).to.have.length(1);
  return { id: matches[0]![0], ...matches[0]![1] };
}

function failsWith(build: (stack: TerraformStack) => void, ...expected: string[]): string {
  let error: unknown;
  try {
    synth(build);
  } catch (err) {
    error = err;
  }
  expect(error, 'synth should have failed').to.be.instanceOf(TrunkPropsError);
  const message = (error as Error).message;
  for (const part of expected) expect(message).to.contain(part);
  return message;
}

describe('CDKTF constructs: synthesis', () => {
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cdktf-synth-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe('SmsTrunk', () => {
    it('synthesizes a terraform_data whose input is the canonical spec and whose triggers_replace is its hash', () => {
      const json = synth((stack) => new SmsTrunk(stack, 'Checkout', { name: 'Checkout', callbackUrl: 'https://example.com/cb', dlrEvents: true }));
      const r = resource(json, 'Checkout');
      expect(r.input).to.deep.equal({
        format: 1,
        kind: 'sms_trunk',
        api: URL,
        token_env: 'TRUNKCTL_TOKEN',
        managed_by: `cdktf:${STACK}`,
        ref: `${STACK}/Checkout`,
        spec: {
          name: 'Checkout',
          callback_url: 'https://example.com/cb',
          allowed_ips: [],
          allow_any_did_as_source: true,
          outgoing_dids: [],
          outgoing_did_sets: [],
          dlr_events: true,
          blocked: false,
          rate_limit_per_second: null,
        },
        spec_hash: r.input.spec_hash,
      });
      const { spec_hash: hash, ...rest } = r.input;
      expect(hash).to.equal(sha256(canonicalJson(rest)));
      expect(r.triggers_replace).to.deep.equal({ spec_hash: hash });
      expect(r.lifecycle).to.deep.equal({ create_before_destroy: true });
      expect(Testing.toHaveResourceWithProperties(JSON.stringify(json), 'terraform_data', { triggers_replace: { spec_hash: hash }, lifecycle: { create_before_destroy: true } })).to.equal(true);
    });

    it('runs the shared trunkctl script, relative to the stack directory, on create and on destroy with the input in the environment', () => {
      const outdir = path.join(tmp, 'layout', 'cdktf.out');
      const json = synth((stack) => new SmsTrunk(stack, 'Checkout'), {}, outdir);
      const provisioners = resource(json, 'Checkout').provisioner.map((p: any) => p['local-exec']);
      expect(provisioners).to.have.length(2);
      const [create, destroy] = provisioners;
      const script = create.interpreter[1];
      expect(create).to.deep.include({ when: 'create', command: 'apply', environment: { TRUNKCTL_RESOURCE: '${jsonencode(self.input)}' } });
      expect(destroy).to.deep.include({ when: 'destroy', command: 'destroy', environment: { TRUNKCTL_RESOURCE: '${jsonencode(self.input)}' } });
      expect(create.interpreter).to.deep.equal(['sh', script]);
      expect(destroy.interpreter).to.deep.equal(create.interpreter);
      expect(script).to.match(/^\.\.\//);
      // Terraform runs local-exec in cdktf.out/stacks/<stack>; from there the path reaches this checkout's bin.
      expect(path.resolve(outdir, 'stacks', STACK, script)).to.equal(path.join(ROOT, 'control-plane/bin/trunkctl-reconcile.sh'));
      expect(fs.existsSync(path.join(ROOT, 'control-plane/bin/trunkctl-reconcile.sh'))).to.equal(true);
    });

    it('runs the compiled trunkctl once per step with reconcileRunner PROCESS_PER_RESOURCE', () => {
      const outdir = path.join(tmp, 'layout-per-resource', 'cdktf.out');
      const json = synth((stack) => new SmsTrunk(stack, 'Checkout'), { reconcileRunner: ReconcileRunner.PROCESS_PER_RESOURCE }, outdir);
      const [create, destroy] = resource(json, 'Checkout').provisioner.map((p: any) => p['local-exec']);
      const script = create.interpreter[1];
      expect(create).to.deep.include({ when: 'create', command: 'apply', interpreter: ['node', script, 'reconcile'] });
      expect(destroy).to.deep.include({ when: 'destroy', command: 'destroy', interpreter: ['node', script, 'reconcile'] });
      expect(path.resolve(outdir, 'stacks', STACK, script)).to.equal(path.join(ROOT, 'control-plane/bin/trunkctl.js'));
    });

    it('checks the Terraform version once per stack, not once per resource', () => {
      // A stand-in terraform that counts its calls; cdktf's own terraform_data ran `terraform version` per resource.
      const dir = fs.mkdtempSync(path.join(tmp, 'tf-'));
      const calls = path.join(dir, 'calls');
      const fake = (version: string) => {
        const bin = path.join(dir, `terraform-${version}`);
        fs.writeFileSync(bin, `#!/bin/sh\necho x >> '${calls}'\necho "Terraform v${version}"\n`, { mode: 0o755 });
        return bin;
      };
      const saved = process.env.TERRAFORM_BINARY_NAME;
      try {
        process.env.TERRAFORM_BINARY_NAME = fake('1.11.4');
        const app = Testing.app({ outdir: path.join(dir, 'ok') });
        const stack = new TerraformStack(app, STACK);
        new ControlPlane(stack, 'ControlPlane', { url: URL });
        const us = new SourceDidSet(stack, 'Us', { dids: ['+12125551234'] });
        for (let i = 0; i < 20; i++) new SmsTrunk(stack, `T${i}`, { sourceDidSets: [us], passwordRotation: '1' });
        Testing.synth(stack, true);
        expect(fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean)).to.have.length(1);

        process.env.TERRAFORM_BINARY_NAME = fake('1.3.9');
        const old = new TerraformStack(Testing.app({ outdir: path.join(dir, 'old') }), STACK);
        new ControlPlane(old, 'ControlPlane', { url: URL });
        new SmsTrunk(old, 'A');
        expect(() => Testing.synth(old, true)).to.throw(/terraform-1\.3\.9 version 1\.3\.9 is lower than the required version >=1\.4/);
      } finally {
        if (saved === undefined) delete process.env.TERRAFORM_BINARY_NAME;
        else process.env.TERRAFORM_BINARY_NAME = saved;
      }
    });

    it('keys the trunk by its construct path, so a new friendly name changes the hash but not the identity', () => {
      const a = resource(synth((stack) => new SmsTrunk(stack, 'Checkout', { name: 'Checkout' })), 'Checkout');
      const b = resource(synth((stack) => new SmsTrunk(stack, 'Checkout', { name: 'Checkout (EU)' })), 'Checkout');
      expect(a.id).to.equal(b.id);
      expect(a.input.ref).to.equal(b.input.ref);
      expect(a.input.spec_hash).to.not.equal(b.input.spec_hash);
      const again = resource(synth((stack) => new SmsTrunk(stack, 'Checkout', { name: 'Checkout' })), 'Checkout');
      expect(again.input.spec_hash).to.equal(a.input.spec_hash);
    });

    it('shortens a reference longer than 100 characters with a hash of the full path', () => {
      const id = 'x'.repeat(120);
      const trunk = synth((stack) => new SmsTrunk(stack, id, { name: 'Long' }));
      const ref: string = Object.values(data(trunk)).find((r: any) => r.input.kind === 'sms_trunk').input.ref;
      expect(ref).to.have.length(100);
      expect(ref).to.match(new RegExp(`^${STACK}/x+~[0-9a-f]{16}$`));
    });

    it('canonicalizes allowed IPs as the API stores them and merges shared lists in order without duplicates', () => {
      const json = synth((stack) => {
        const offices = new AllowedIpList(stack, 'Offices', { cidrs: ['203.0.113.0/24', '2001:DB8:1:0::/64'] });
        new SmsTrunk(stack, 'Checkout', { allowedIps: [offices, '198.51.100.7', '::ffff:203.0.113.0/120', offices] });
      });
      expect(resource(json, 'Checkout').input.spec.allowed_ips).to.deep.equal(['203.0.113.0/24', '2001:db8:1::/64', '198.51.100.7/32']);
    });

    it('allows any DID by default, and only the listed DIDs and sets once some are given, deployed after those sets', () => {
      const json = synth((stack) => {
        const us = new SourceDidSet(stack, 'Us', { name: 'us-senders', dids: ['+12125551234', '12125551235', '+12125551234'] });
        new SmsTrunk(stack, 'Open');
        new SmsTrunk(stack, 'Listed', { sourceDids: ['+4930123456'], sourceDidSets: [us, SourceDidSet.fromSetName(stack, 'Legacy', 'legacy')] });
      });
      expect(resource(json, 'Open').input.spec.allow_any_did_as_source).to.equal(true);
      const set = resource(json, 'Us');
      expect(set.input).to.deep.include({ kind: 'did_set', name: 'us-senders', spec: { dids: ['12125551234', '12125551235'] } });
      const listed = resource(json, 'Listed');
      expect(listed.input.spec).to.deep.include({ allow_any_did_as_source: false, outgoing_dids: ['4930123456'], outgoing_did_sets: ['us-senders', 'legacy'] });
      expect(listed.depends_on).to.deep.equal([`terraform_data.${set.id}`]);
    });

    it('adds a password rotation step after the trunk that only a new rotation value replaces', () => {
      const build = (rotation: string, grace: number, callbackUrl: string) =>
        synth((stack) => new SmsTrunk(stack, 'Checkout', { callbackUrl, passwordRotation: rotation, passwordRotationGraceSeconds: grace }));
      const first = build('2025-01', 3600, 'https://example.com/a');
      const trunk = resource(first, 'Checkout');
      const rotation = resource(first, 'Checkout/PasswordRotation');
      expect(rotation.input).to.deep.include({ kind: 'password_rotation', ref: `${STACK}/Checkout`, grace_seconds: 3600 });
      expect(rotation.depends_on).to.deep.equal([`terraform_data.${trunk.id}`]);
      expect(rotation.provisioner.map((p: any) => p['local-exec'].when)).to.deep.equal(['create']);
      const otherFields = resource(build('2025-01', 60, 'https://example.com/b'), 'Checkout/PasswordRotation');
      expect(otherFields.triggers_replace).to.deep.equal(rotation.triggers_replace);
      const bumped = resource(build('2025-02', 3600, 'https://example.com/a'), 'Checkout/PasswordRotation');
      expect(bumped.triggers_replace).to.not.deep.equal(rotation.triggers_replace);
    });

    it('passes values known only at apply time through unvalidated and hashes them in Terraform', () => {
      const json = synth((stack) => {
        const url = new TerraformVariable(stack, 'callback', { type: 'string' });
        new SmsTrunk(stack, 'Checkout', { callbackUrl: url.stringValue });
      });
      const r = resource(json, 'Checkout');
      expect(r.input.spec.callback_url).to.equal('${var.callback}');
      expect(r.triggers_replace.spec_hash).to.match(/^\$\{sha256\(jsonencode\(/);
    });
  });

  describe('ControlPlane', () => {
    it('adds a prune step that runs after every trunk and set and lists what the stack declares', () => {
      const json = synth((stack) => {
        const us = new SourceDidSet(stack, 'Us', { name: 'us-senders', dids: ['+12125551234'] });
        new SmsTrunk(stack, 'B', { sourceDidSets: [us] });
        new SmsTrunk(stack, 'A');
      });
      const prune = resource(json, 'ControlPlane/Prune');
      expect(prune.input).to.deep.include({ kind: 'prune', trunks: [`${STACK}/A`, `${STACK}/B`], did_sets: ['us-senders'] });
      expect(prune.depends_on).to.have.members(['Us', 'B', 'A'].map((p) => `terraform_data.${resource(json, p).id}`));
      expect(prune.provisioner.map((p: any) => p['local-exec'].when)).to.deep.equal(['create']);
    });

    it('marks resources with managedBy and reads the token from the variable it names', () => {
      const json = synth((stack) => new SmsTrunk(stack, 'A'), { managedBy: 'cdktf:payments-prod', tokenEnvVar: 'PAYMENTS_TRUNKS_TOKEN', prune: false });
      expect(resource(json, 'A').input).to.deep.include({ managed_by: 'cdktf:payments-prod', token_env: 'PAYMENTS_TRUNKS_TOKEN' });
      expect(Object.keys(data(json)).some((id) => id.startsWith('ControlPlane_Prune'))).to.equal(false);
    });

    it('never writes the admin token into the synthesized JSON, only the name of its variable', () => {
      const token = 'sat_this-must-never-be-synthesized-0123456789';
      const saved = process.env.TRUNKCTL_TOKEN;
      process.env.TRUNKCTL_TOKEN = token;
      try {
        const text = JSON.stringify(
          synth((stack) => {
            const us = new SourceDidSet(stack, 'Us', { dids: ['+12125551234'] });
            new SmsTrunk(stack, 'A', { sourceDidSets: [us], passwordRotation: '1' });
          }),
        );
        expect(text).to.not.contain(token);
        expect(text).to.contain('"token_env":"TRUNKCTL_TOKEN"');
      } finally {
        if (saved === undefined) delete process.env.TRUNKCTL_TOKEN;
        else process.env.TRUNKCTL_TOKEN = saved;
      }
    });

    it('writes no absolute path of the synthesizing machine', () => {
      // A checkout-like layout: the app's cdktf.out and trunkctl under one root.
      const root = path.join(tmp, 'checkout');
      fs.mkdirSync(path.join(root, 'control-plane/bin'), { recursive: true });
      fs.writeFileSync(path.join(root, 'control-plane/bin/trunkctl.js'), '');
      const json = synth((stack) => new SmsTrunk(stack, 'A'), { trunkctlPath: path.join(root, 'control-plane/bin/trunkctl.js') }, path.join(root, 'examples/app/cdktf.out'));
      const text = JSON.stringify(json);
      expect(text).to.not.contain(tmp);
      expect(text).to.not.contain(ROOT);
      expect(resource(json, 'A').provisioner[0]['local-exec'].interpreter[1]).to.equal('../../../../../control-plane/bin/trunkctl-reconcile.sh');
    });
  });

  describe('the null_resource option', () => {
    it('synthesizes null_resource with the hashicorp/null provider, the input as a trigger and the same provisioners', () => {
      const json = synth(
        (stack) => {
          const us = new SourceDidSet(stack, 'Us', { name: 'us-senders', dids: ['+12125551234'] });
          new SmsTrunk(stack, 'A', { sourceDidSets: [us] });
        },
        { resourceType: ReconcilerResourceType.NULL_RESOURCE },
      );
      const text = JSON.stringify(json);
      expect(Testing.toHaveProvider(text, 'null')).to.equal(true);
      expect(json.terraform.required_providers.null).to.deep.include({ source: 'null' }); // registry.terraform.io/hashicorp/null
      expect(json.resource.terraform_data).to.equal(undefined);
      const trunk = resource(json, 'A', 'null_resource');
      const input = JSON.parse(trunk.triggers.resource);
      expect(input).to.deep.include({ kind: 'sms_trunk', ref: `${STACK}/A` });
      expect(trunk.triggers.spec_hash).to.equal(input.spec_hash);
      expect(trunk.lifecycle).to.deep.equal({ create_before_destroy: true });
      expect(trunk.depends_on).to.deep.equal([`null_resource.${resource(json, 'Us', 'null_resource').id}`]);
      expect(trunk.provisioner.map((p: any) => [p['local-exec'].when, p['local-exec'].environment.TRUNKCTL_RESOURCE])).to.deep.equal([
        ['create', '${self.triggers.resource}'],
        ['destroy', '${self.triggers.resource}'],
      ]);
    });
  });

  describe('invalid props fail at synth time, naming the value and the fix', () => {
    it('fails when an allowed IP has host bits set below its mask', () => {
      failsWith(
        (stack) => new SmsTrunk(stack, 'A', { allowedIps: ['203.0.113.0/24', '10.0.0.5/24'] }),
        `${STACK}/A: allowedIps[1] "10.0.0.5/24" has host bits set below /24; use 10.0.0.0/24 for the network or 10.0.0.5/32 for the single host`,
      );
    });

    it('fails when an allowed-IP list holds something that is not an address', () => {
      failsWith((stack) => new AllowedIpList(stack, 'L', { cidrs: ['10.0.0.256'] }), `${STACK}/L: cidrs[0] "10.0.0.256" is not an IPv4 address`);
    });

    it('fails when a DID is not E.164', () => {
      failsWith(
        (stack) => new SourceDidSet(stack, 'Us', { dids: ['+12125551234', '212-555-1234'] }),
        `${STACK}/Us: dids[1] "212-555-1234" is not an E.164 number; write "+" and 7 to 15 digits`,
        'e.g. "+12125551234"',
      );
      failsWith((stack) => new SmsTrunk(stack, 'A', { sourceDids: ['0123456789'] }), 'sourceDids[0] "0123456789" is not an E.164 number');
    });

    it('fails when the callback URL is not an absolute http(s) URL', () => {
      failsWith((stack) => new SmsTrunk(stack, 'A', { callbackUrl: 'ftp://example.com/cb' }), 'callbackUrl "ftp://example.com/cb" must use http or https; write it like https://example.com/sms/callback');
      failsWith((stack) => new SmsTrunk(stack, 'A', { callbackUrl: '/sms/cb' }), 'callbackUrl "/sms/cb" is not an absolute URL');
      failsWith((stack) => new SmsTrunk(stack, 'A', { callbackUrl: 'https://user:pw@example.com/' }), 'must not carry user:password@');
    });

    it('fails when a name is empty, padded, too long or a Terraform template', () => {
      failsWith((stack) => new SmsTrunk(stack, 'A', { name: '' }), 'name must be a non-empty string');
      failsWith((stack) => new SmsTrunk(stack, 'A', { name: ' Checkout' }), 'name " Checkout" has leading or trailing spaces; write "Checkout"');
      failsWith((stack) => new SmsTrunk(stack, 'A', { name: 'n'.repeat(101) }), 'name must be at most 100 characters, got 101');
      failsWith((stack) => new SourceDidSet(stack, 'S', { name: 'us-${var.x}', dids: [] }), 'Terraform would read as a template');
    });

    it('fails when sources contradict each other', () => {
      failsWith((stack) => new SmsTrunk(stack, 'A', { anyDid: true, sourceDids: ['+12125551234'] }), 'anyDid is true while sourceDids or sourceDidSets are given');
      failsWith((stack) => new SmsTrunk(stack, 'A', { anyDid: false }), 'anyDid is false but no sourceDids or sourceDidSets are given');
    });

    it('fails when numbers are out of range', () => {
      failsWith((stack) => new SmsTrunk(stack, 'A', { rateLimitPerSecond: 0 }), 'rateLimitPerSecond must be a whole number of submissions per second from 1 to 100000, got 0');
      failsWith((stack) => new SmsTrunk(stack, 'A', { passwordRotation: 'x', passwordRotationGraceSeconds: 1.5 }), 'passwordRotationGraceSeconds must be a whole number of seconds from 0 to 604800, got 1.5');
      failsWith((stack) => new SmsTrunk(stack, 'A', { passwordRotationGraceSeconds: 60 }), 'passwordRotationGraceSeconds is 60 but passwordRotation is not set; set both or neither');
    });

    it('fails when the merged allowed IPs exceed the API limit', () => {
      const cidrs = Array.from({ length: 60 }, (_, i) => `10.${i}.0.0/16`);
      const more = Array.from({ length: 60 }, (_, i) => `172.16.${i}.0/24`);
      failsWith((stack) => new SmsTrunk(stack, 'A', { allowedIps: [new AllowedIpList(stack, 'L', { cidrs }), ...more] }), 'allowedIps adds up to 120 entries; a trunk allows at most 100: use wider prefixes');
    });

    it('fails when a set is too large for the provisioner environment, saying how to split it', () => {
      const dids = Array.from({ length: 9000 }, (_, i) => `+1212${String(i).padStart(7, '0')}`);
      failsWith((stack) => new SourceDidSet(stack, 'Big', { dids }), `${STACK}/Big: props make a reconciler input of`, 'Split the DIDs over several SourceDidSets');
    });

    it('fails when the control plane is missing, or its props are wrong, without echoing a token', () => {
      let error: Error | undefined;
      try {
        const app = Testing.app({ outdir: path.join(tmp, 'no-plane') });
        new SmsTrunk(new TerraformStack(app, STACK), 'A');
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message).to.equal(`${STACK}/A: controlPlane is not set and the stack has no ControlPlane; add \`new ControlPlane(stack, "ControlPlane", { url })\` before the trunks and sets, or pass controlPlane`);
      const plane = (props: Partial<ControlPlaneProps>): string => {
        try {
          synth(() => undefined, props);
        } catch (err) {
          return (err as Error).message;
        }
        return 'no error';
      };
      expect(plane({ url: 'trunks.example.com' })).to.equal(`${STACK}/ControlPlane: url "trunks.example.com" is not an absolute URL; write it like https://trunks.example.com`);
      for (const token of ['sat_0123456789abcdefghijklmnopqrstuv', 'a-secret-value-0123456789']) {
        const message = plane({ tokenEnvVar: token });
        expect(message).to.match(/tokenEnvVar (must be the NAME of the environment variable|looks like an admin token)/);
        expect(message).to.not.contain(token);
      }
    });
  });
});
