import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeclaredTrunkSpec, DidSetInput, PruneInput, ReconcileInput, specHash, TrunkInput } from '../../control-plane/src/cli/reconcile-input';
import { run } from '../../control-plane/src/cli/trunkctl';
import { ensureBuilt, ROOT } from '../support/build';
import { startTestPlatform, TestPlatform } from '../support/platform';
import { CommandResult, runCommand } from '../support/process';

type Result = CommandResult;

const MANAGED_BY = 'cdktf:cli-test';

describe('trunkctl for trunks as code: reconcile, conditional deletes, --ref, drift', () => {
  let t: TestPlatform;
  let dir: string;
  let seq = 0;
  const unique = (prefix: string) => `${prefix}-${++seq}`;

  /** The provisioners' view: the input in TRUNKCTL_RESOURCE, the token in the variable the stack names. */
  async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
    let stdout = '';
    let stderr = '';
    const code = await run(['node', 'trunkctl', ...args], {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: { TRUNKCTL_URL: t.url, TRUNKCTL_TOKEN: t.token, ...env },
    });
    return { code, stdout, stderr };
  }
  const reconcile = (step: 'apply' | 'destroy', input: ReconcileInput, env: Record<string, string | undefined> = { STACK_TOKEN: t.token }) =>
    cli(['reconcile', step], { TRUNKCTL_URL: undefined, TRUNKCTL_TOKEN: undefined, TRUNKCTL_RESOURCE: JSON.stringify(input), ...env });

  const common = () => ({ format: 1, api: t.url, token_env: 'STACK_TOKEN', managed_by: MANAGED_BY });
  function trunkInput(ref: string, spec: Partial<DeclaredTrunkSpec> & { name: string }): TrunkInput {
    const body = {
      ...common(),
      kind: 'sms_trunk' as const,
      ref,
      spec: { callback_url: null, allowed_ips: [], allow_any_did_as_source: true, outgoing_dids: [], outgoing_did_sets: [], dlr_events: false, blocked: false, rate_limit_per_second: null, ...spec },
    };
    return { ...body, spec_hash: specHash(body) };
  }
  function setInput(name: string, dids: string[]): DidSetInput {
    const body = { ...common(), kind: 'did_set' as const, name, spec: { dids } };
    return { ...body, spec_hash: specHash(body) };
  }
  const trunkByRef = async (ref: string) => (await t.api('GET', `/v1/sms_trunks?filter[external_reference_id]=${encodeURIComponent(ref)}`)).body.data[0];

  /** A cdk.tf.json as `cdktf synth` writes it, holding the given inputs as terraform_data resources. */
  function synthDir(name: string, inputs: ReconcileInput[]): string {
    const stackDir = path.join(dir, name, 'stacks', name);
    fs.mkdirSync(stackDir, { recursive: true });
    const resources = Object.fromEntries(inputs.map((input, i) => [`R${i}_ABCDEF0${i}`, { input, triggers_replace: { spec_hash: input.spec_hash } }]));
    fs.writeFileSync(path.join(stackDir, 'cdk.tf.json'), JSON.stringify({ resource: { terraform_data: resources } }));
    fs.writeFileSync(path.join(dir, name, 'manifest.json'), JSON.stringify({ stacks: { [name]: { name, synthesizedStackPath: `stacks/${name}/cdk.tf.json` } } }));
    return path.join(dir, name);
  }

  before(async () => {
    t = await startTestPlatform();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trunkctl-as-code-'));
    const seed = await t.api('POST', '/v1/dids/import', '12125550200\n12125550201\n', { 'content-type': 'text/csv' });
    expect(seed.status, seed.text).to.equal(200);
  });
  after(async () => {
    await t?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('reconcile', () => {
    it('applies a declared set and a trunk that names it, marked as managed; applying again changes nothing', async () => {
      const set = setInput(unique('senders'), ['12125550200']);
      const trunk = trunkInput(unique('stack/Checkout'), { name: unique('Checkout'), allow_any_did_as_source: false, outgoing_did_sets: [set.name], allowed_ips: ['203.0.113.0/24'] });
      const s = await reconcile('apply', set);
      expect(s.code, s.stderr).to.equal(0);
      expect(s.stdout).to.match(new RegExp(`^DID set "${set.name}": created \\(id \\S+, version 1\\)\\n$`));
      const first = await reconcile('apply', trunk);
      expect(first.code, first.stderr).to.equal(0);
      expect(first.stdout).to.match(new RegExp(`^trunk "${trunk.spec.name}": created \\(id \\S+, version 1\\) \\[ref ${trunk.ref}\\]\\n$`));
      const live = await trunkByRef(trunk.ref);
      expect(live.attributes).to.include({ managed_by: MANAGED_BY, managed_spec_hash: trunk.spec_hash, allow_any_did_as_source: false });
      const setId = (await t.api('GET', `/v1/did_sets?filter[name]=${set.name}`)).body.data[0].id;
      expect(live.relationships.outgoing_did_sets.data).to.deep.equal([{ type: 'did_sets', id: setId }]);
      expect((await reconcile('apply', trunk)).stdout).to.contain(': unchanged (');
    });

    it('destroys a trunk only while it carries the spec hash of the destroying resource', async () => {
      const ref = unique('stack/Replaced');
      const old = trunkInput(ref, { name: unique('Old') });
      const updated = trunkInput(ref, { name: old.spec.name, dlr_events: true });
      await reconcile('apply', old);
      await reconcile('apply', updated);
      const stale = await reconcile('destroy', old);
      expect(stale.code, stale.stderr).to.equal(0);
      expect(stale.stdout).to.contain('kept: the live trunk carries another spec');
      expect(await trunkByRef(ref)).to.not.equal(undefined);
      expect((await reconcile('destroy', updated)).stdout).to.equal(`trunk "${old.spec.name}" (ref ${ref}): deleted\n`);
      expect((await reconcile('destroy', updated)).stdout).to.contain('already gone');
    });

    it('fails with exit 2 naming the token variable when it is unset', async () => {
      const r = await reconcile('apply', trunkInput(unique('stack/NoToken'), { name: unique('NoToken') }), {});
      expect(r.code).to.equal(2);
      expect(r.stderr).to.equal(
        'trunkctl: STACK_TOKEN is not set: the stack reads the admin token from it at apply time; export STACK_TOKEN=<admin token> before cdktf deploy (the stack names the variable, never the token)\n',
      );
    });

    it('fails when the input is missing or of an unknown format', async () => {
      const missing = await cli(['reconcile', 'apply']);
      expect(missing.code).to.equal(2);
      expect(missing.stderr).to.contain('$TRUNKCTL_RESOURCE is empty');
      const future = await cli(['reconcile', 'apply'], { TRUNKCTL_RESOURCE: JSON.stringify({ ...trunkInput('x', { name: 'x' }), format: 2 }) });
      expect(future.code).to.equal(2);
      expect(future.stderr).to.contain('format 2 is not supported by this trunkctl');
    });

    it('regenerates a password for a rotation step without printing it', async () => {
      const trunk = trunkInput(unique('stack/Rotated'), { name: unique('Rotated') });
      await reconcile('apply', trunk);
      const id = (await trunkByRef(trunk.ref)).id;
      const before = (await t.api('GET', `/v1/sms_trunks/${id}/credentials`)).body.data.attributes.password;
      const body = { ...common(), kind: 'password_rotation' as const, ref: trunk.ref, grace_seconds: 600 };
      const r = await reconcile('apply', { ...body, spec_hash: specHash(body) });
      expect(r.code, r.stderr).to.equal(0);
      const after = (await t.api('GET', `/v1/sms_trunks/${id}/credentials`)).body.data.attributes;
      expect(after.password).to.not.equal(before);
      expect(r.stdout).to.contain('password regenerated; the previous one stays valid until').and.not.contain(after.password);
    });

    it('prunes what the stack manages and no longer declares, and nothing else', async () => {
      const kept = trunkInput(unique('stack/Kept'), { name: unique('Kept') });
      const dropped = trunkInput(unique('stack/Dropped'), { name: unique('Dropped') });
      const droppedSet = setInput(unique('dropped-set'), ['12125550201']);
      for (const input of [kept, dropped, droppedSet]) expect((await reconcile('apply', input)).code).to.equal(0);
      const foreign = await t.api('PUT', `/v1/sms_trunks/by-name/${unique('Foreign')}`, { data: { type: 'sms_trunks', attributes: { managed_by: 'cdktf:other' } } });
      expect(foreign.status).to.equal(201);
      // Everything this stack manages that the test has not dropped stays declared.
      const live = (await t.api('GET', '/v1/sms_trunks?page[size]=1000')).body.data.filter((x: any) => x.attributes.managed_by === MANAGED_BY);
      const sets = (await t.api('GET', '/v1/did_sets?page[size]=1000')).body.data.filter((x: any) => x.attributes.managed_by === MANAGED_BY);
      const body: Omit<PruneInput, 'spec_hash'> = {
        ...common(),
        kind: 'prune',
        trunks: live.map((x: any) => x.attributes.external_reference_id).filter((r: string) => r !== dropped.ref),
        did_sets: sets.map((x: any) => x.attributes.name).filter((n: string) => n !== droppedSet.name),
      };
      const r = await reconcile('apply', { ...body, spec_hash: specHash(body) });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.equal(`trunk "${dropped.spec.name}" (ref ${dropped.ref}): deleted (no longer declared by the stack)\nDID set "${droppedSet.name}": deleted (no longer declared by the stack)\n`);
      expect(await trunkByRef(dropped.ref)).to.equal(undefined);
      expect(await trunkByRef(kept.ref)).to.not.equal(undefined);
      expect((await t.api('GET', `/v1/sms_trunks/${foreign.body.data.id}`)).status).to.equal(200);
    });
  });

  describe('the provisioners\' script: one shared trunkctl process per terraform run', () => {
    const SCRIPT = path.join(ROOT, 'control-plane/bin/trunkctl-reconcile.sh');
    const BIN = path.join(ROOT, 'control-plane/bin/trunkctl.js');
    let work: string;
    let fakeBin: string;
    let nodeLog: string;

    before(() => {
      ensureBuilt();
      // The stack directory Terraform would run the provisioners in, and a `node` on PATH that logs each start.
      work = fs.mkdtempSync(path.join(dir, 'stack-'));
      fakeBin = fs.mkdtempSync(path.join(dir, 'bin-'));
      nodeLog = path.join(fakeBin, 'starts.log');
      fs.writeFileSync(path.join(fakeBin, 'node'), `#!/bin/sh\necho "$*" >> '${nodeLog}'\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
    });
    beforeEach(() => fs.writeFileSync(nodeLog, ''));
    const nodeStarts = () => fs.readFileSync(nodeLog, 'utf8').split('\n').filter(Boolean);

    function exec(command: string, args: string[], env: Record<string, string>): Promise<Result> {
      return runCommand(command, args, { cwd: work, env });
    }

    /** What a local-exec provisioner runs: `sh …/trunkctl-reconcile.sh <step>` in the stack directory, this process as "terraform". */
    const step = (which: 'apply' | 'destroy', input: ReconcileInput | undefined, env: Record<string, string> = {}) =>
      exec('sh', [SCRIPT, which], { PATH: `${fakeBin}:${process.env.PATH}`, STACK_TOKEN: t.token, ...(input ? { TRUNKCTL_RESOURCE: JSON.stringify(input) } : {}), ...env });

    it('runs concurrent steps in one node process, each with its own output and exit code', async () => {
      const set = setInput(unique('shared-set'), ['12125550200']);
      const first = await step('apply', set);
      expect(first.code, first.stderr).to.equal(0);
      expect(first.stdout).to.match(new RegExp(`^DID set "${set.name}": created \\(id \\S+, version 1\\)\\n$`));

      const trunks = Array.from({ length: 6 }, (_, i) => trunkInput(unique(`stack/Shared${i}`), { name: unique(`Shared${i}`), allow_any_did_as_source: false, outgoing_did_sets: [set.name] }));
      const broken = trunkInput(unique('stack/Broken'), { name: unique('Broken'), allow_any_did_as_source: false, outgoing_did_sets: ['no-such-set'] });
      const gone = trunkInput(unique('stack/NeverApplied'), { name: unique('NeverApplied') });
      const [brokenRun, goneRun, ...runs] = await Promise.all([step('apply', broken), step('destroy', gone), ...trunks.map((x) => step('apply', x))]);

      runs.forEach((r, i) => {
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stderr).to.equal('');
        expect(r.stdout).to.match(new RegExp(`^trunk "${trunks[i]!.spec.name}": created \\(id \\S+, version 1\\) \\[ref ${trunks[i]!.ref}\\]\\n$`));
      });
      expect(brokenRun).to.deep.equal({
        code: 1,
        stdout: '',
        stderr: `trunkctl: trunk "${broken.spec.name}": DID set "no-such-set" does not exist on ${t.url}; declare it as a SourceDidSet in the stack or create it with \`trunkctl sets apply\`\n`,
      });
      expect(goneRun).to.deep.equal({ code: 0, stdout: `trunk "${gone.spec.name}" (ref ${gone.ref}): already gone\n`, stderr: '' });
      for (const x of trunks) expect((await trunkByRef(x.ref)).attributes.managed_spec_hash).to.equal(x.spec_hash);
      expect(await trunkByRef(broken.ref)).to.equal(undefined);
      // 9 steps, in one node process per wave (a lost race may start a second one).
      expect(nodeStarts().every((l) => l.includes('reconcile serve-queue'))).to.equal(true);
      expect(nodeStarts().length).to.be.within(2, 4);
    });

    it('reports a bad input like `trunkctl reconcile` does, with exit 2', async () => {
      const r = await step('apply', undefined);
      expect(r).to.deep.equal({
        code: 2,
        stdout: '',
        stderr: '$TRUNKCTL_RESOURCE is empty; `trunkctl reconcile` is run by the CDKTF constructs\' provisioners with the resource input in it\n'.replace(/^/, 'trunkctl: '),
      });
      const usage = await step('plan' as 'apply', undefined);
      expect(usage.code).to.equal(2);
      expect(usage.stderr).to.contain('usage: sh trunkctl-reconcile.sh apply|destroy');
    });

    it('takes over from a host that died, and removes the queues of finished terraform runs', async () => {
      const dead = spawnSync('true').pid;
      const run = path.join(work, '.trunkctl-reconcile', String(process.pid));
      fs.mkdirSync(run, { recursive: true });
      fs.writeFileSync(path.join(run, 'host.pid'), `${dead}\n`);
      const finished = path.join(work, '.trunkctl-reconcile', String(dead));
      fs.mkdirSync(path.join(finished, 'inputs'), { recursive: true });
      const trunk = trunkInput(unique('stack/Takeover'), { name: unique('Takeover') });
      const r = await step('apply', trunk);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain(`trunk "${trunk.spec.name}": created`);
      expect(nodeStarts()).to.have.length(1);
      expect(fs.existsSync(finished)).to.equal(false);
      expect(fs.existsSync(path.join(run, 'host.pid'))).to.equal(false);
    });

    it('runs `trunkctl.js reconcile apply` on its own without the command parser, with the same output and exit codes', async () => {
      const trunk = trunkInput(unique('stack/Direct'), { name: unique('Direct') });
      const env = { PATH: process.env.PATH ?? '', STACK_TOKEN: t.token, TRUNKCTL_RESOURCE: JSON.stringify(trunk) };
      const direct = await exec(process.execPath, [BIN, 'reconcile', 'apply'], env);
      expect(direct.code, direct.stderr).to.equal(0);
      expect(direct.stdout).to.match(new RegExp(`^trunk "${trunk.spec.name}": created \\(id \\S+, version 1\\) \\[ref ${trunk.ref}\\]\\n$`));
      const parsed = await exec(process.execPath, [BIN, 'reconcile', 'apply', '--from-env', 'TRUNKCTL_RESOURCE'], env);
      expect(parsed.stdout).to.equal(direct.stdout.replace(': created (', ': unchanged ('));
      const noToken = await exec(process.execPath, [BIN, 'reconcile', 'destroy'], { ...env, STACK_TOKEN: '' });
      expect(noToken.code).to.equal(2);
      expect(noToken.stderr).to.match(/^trunkctl: STACK_TOKEN is not set/);
    });
  });

  describe('conditional deletes, --ref and --token-env', () => {
    it('deletes a trunk by --ref only with its current --if-spec-hash, and a set by name the same way', async () => {
      const trunk = trunkInput(unique('stack/Cond'), { name: unique('Cond') });
      const set = setInput(unique('cond-set'), ['12125550200']);
      await reconcile('apply', trunk);
      await reconcile('apply', set);
      expect((await cli(['trunks', 'delete', '--ref', trunk.ref, '--if-spec-hash', 'other'])).stdout).to.equal(`trunk with ref "${trunk.ref}": kept: it carries another spec hash\n`);
      expect((await cli(['trunks', 'delete', '--ref', trunk.ref, '--if-spec-hash', trunk.spec_hash])).stdout).to.equal(`trunk with ref "${trunk.ref}": deleted\n`);
      expect((await cli(['sets', 'delete', set.name, '--if-spec-hash', 'other'])).stdout).to.contain('kept');
      expect((await cli(['sets', 'delete', set.name, '--if-spec-hash', set.spec_hash])).stdout).to.equal(`DID set "${set.name}": deleted\n`);
    });

    it('fails to delete a managed trunk without --force, naming the owner; --force deletes it', async () => {
      const trunk = trunkInput(unique('stack/Guarded'), { name: unique('Guarded') });
      await reconcile('apply', trunk);
      const refused = await cli(['trunks', 'delete', '--ref', trunk.ref]);
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.match(/^trunkctl: 409 TRUNK_MANAGED .*managed by cdktf:cli-test/);
      const forced = await cli(['trunks', 'delete', '--ref', trunk.ref, '--force']);
      expect(forced.code, forced.stderr).to.equal(0);
      expect(await trunkByRef(trunk.ref)).to.equal(undefined);
    });

    it('shows credentials by --ref in env format, for pipelines', async () => {
      const trunk = trunkInput(unique('stack/Creds'), { name: unique('Creds') });
      await reconcile('apply', trunk);
      const live = await trunkByRef(trunk.ref);
      const creds = (await t.api('GET', `/v1/sms_trunks/${live.id}/credentials`)).body.data.attributes;
      const r = await cli(['creds', 'show', '--ref', trunk.ref, '--format', 'env']);
      expect(r).to.deep.equal({ code: 0, stdout: `SMS_OUT_USERNAME=${creds.username}\nSMS_OUT_PASSWORD=${creds.password}\nSMS_OUT_URL=${creds.host}\n`, stderr: '' });
      const both = await cli(['creds', 'show', live.attributes.name, '--ref', trunk.ref]);
      expect(both.code).to.equal(2);
    });

    it('applies managed_by and managed_spec_hash from a spec file, and reads the token from --token-env', async () => {
      const name = unique('FromFile');
      const file = path.join(dir, 'managed.json');
      fs.writeFileSync(file, JSON.stringify({ name, external_reference_id: unique('file/ref'), managed_by: 'cdktf:files', managed_spec_hash: 'h1', rate_limit_per_second: 5 }));
      const r = await cli(['--token-env', 'OTHER_TOKEN', '--json', 'trunks', 'apply', '-f', file], { TRUNKCTL_TOKEN: undefined, OTHER_TOKEN: t.token });
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout).data.attributes).to.include({ name, managed_by: 'cdktf:files', managed_spec_hash: 'h1', rate_limit_per_second: 5 });
    });
  });

  describe('drift', () => {
    it('passes when the live state matches, fails with exit 3 and a diff after a forced edit, and --fix restores it', async () => {
      const set = setInput(unique('drift-set'), ['12125550200']);
      const trunk = trunkInput(unique('stack/Drifty'), { name: unique('Drifty'), allowed_ips: ['203.0.113.0/24'], allow_any_did_as_source: false, outgoing_did_sets: [set.name] });
      await reconcile('apply', set);
      await reconcile('apply', trunk);
      const synth = synthDir(unique('stack'), [set, trunk]);
      // Only this test's resources: other tests' managed trunks would show up as leftovers.
      const env = { STACK_TOKEN: t.token };
      const clean = (await t.api('GET', '/v1/sms_trunks?page[size]=1000')).body.data.filter((x: any) => x.attributes.managed_by === MANAGED_BY && x.attributes.external_reference_id !== trunk.ref);
      for (const x of clean) await t.api('DELETE', `/v1/sms_trunks/${x.id}?force=true`);
      const otherSets = (await t.api('GET', '/v1/did_sets?page[size]=1000')).body.data.filter((x: any) => x.attributes.managed_by === MANAGED_BY && x.attributes.name !== set.name);
      for (const x of otherSets) await t.api('DELETE', `/v1/did_sets/${x.id}?force=true`);

      const inSync = await cli(['drift', synth], env);
      expect(inSync.code, inSync.stderr).to.equal(0);
      expect(inSync.stdout).to.contain('in sync: 1 DID set, 1 trunk');

      const id = (await trunkByRef(trunk.ref)).id;
      const forced = await t.api('PATCH', `/v1/sms_trunks/${id}?force=true`, { data: { type: 'sms_trunks', attributes: { allowed_ips: ['198.51.100.0/24'], blocked: true } } });
      expect(forced.status).to.equal(200);
      const drift = await cli(['drift', synth], env);
      expect(drift.code).to.equal(3);
      expect(drift.stdout.split('\n').slice(1, 4)).to.deep.equal([
        `  ~ trunk "${trunk.spec.name}" [ref ${trunk.ref}]: changed outside the stack (a forced edit); \`trunkctl drift --fix\` restores the declared spec`,
        '      allowed_ips: declared [203.0.113.0/24], live [198.51.100.0/24] (live adds [198.51.100.0/24]; live lacks [203.0.113.0/24])',
        '      blocked: declared false, live true',
      ]);
      expect(drift.stderr).to.equal('trunkctl: drift: 1 resource differs from the stack (see above); changes the stack will deploy are not counted\n');

      const fixed = await cli(['drift', synth, '--fix'], env);
      expect(fixed.code, fixed.stderr).to.equal(0);
      expect(fixed.stdout).to.match(/fixed: trunk ".*": updated/);
      expect((await cli(['drift', synth], env)).code).to.equal(0);

      // A change the stack declares but has not deployed is listed; it fails only with --strict.
      const pending = synthDir(unique('stack'), [set, trunkInput(trunk.ref, { ...trunk.spec, dlr_events: true })]);
      const listed = await cli(['drift', pending], env);
      expect(listed.code, listed.stderr).to.equal(0);
      expect(listed.stdout).to.contain('the stack declares changes not deployed yet').and.contain('dlr_events: declared true, live false');
      expect((await cli(['drift', pending, '--strict'], env)).code).to.equal(3);

      // A managed trunk the stack no longer declares is a leftover.
      const leftover = synthDir(unique('stack'), [set]);
      const left = await cli(['drift', leftover], env);
      expect(left.code).to.equal(3);
      expect(left.stdout).to.contain(`- trunk "${trunk.spec.name}" [ref ${trunk.ref}]: managed by this stack but no longer declared`);
    });

    it('fails when the directory holds no synth output', async () => {
      const r = await cli(['drift', dir]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`trunkctl: ${dir} holds no cdktf synth output (manifest.json or cdk.tf.json); run \`cdktf synth\` first and pass its output directory (cdktf.out)\n`);
    });
  });
});
