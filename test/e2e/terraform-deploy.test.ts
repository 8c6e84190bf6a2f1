import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBuilt, ROOT } from '../support/build';
import { startTestPlatform, TestPlatform } from '../support/platform';
import { basic, sendSms, single } from '../support/send-client';

/**
 * The README's "trunks as code" walk-through, end to end with the real Terraform CLI: the example
 * app is synthesized by `cdktf`, deployed with `cdktf deploy` (terraform_data + local-exec running
 * the compiled trunkctl) against a control plane on port 0, then changed, renamed, trimmed, edited
 * by hand and destroyed. It runs in a temporary checkout, so the repository gets no cdktf.out and
 * no state.
 */

const CDKTF = path.join(ROOT, 'node_modules/cdktf-cli/bundle/bin/cdktf');
const STACK = 'trunks-example';
const REF = (id: string) => `${STACK}/${id}`;

interface Run {
  code: number;
  output: string;
  ms: number;
}

function terraformVersion(): string | undefined {
  const r = spawnSync('terraform', ['version'], { encoding: 'utf8', env: { ...process.env, CHECKPOINT_DISABLE: '1' } });
  return r.status === 0 ? r.stdout.split('\n')[0] : undefined;
}

describe('trunks as code: the example stack deployed with cdktf and the real Terraform CLI', function () {
  this.timeout(240_000);
  let t: TestPlatform;
  let tmp: string;
  let appDir: string;
  const timings: Record<string, number> = {};
  let sendsDuringChange = 0;

  /** cdktf or terraform in the example directory, with the token only in the environment. */
  function exec(command: string, args: string[], cwd: string): Promise<Run> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, {
        cwd,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: tmp,
          TRUNKCTL_URL: t.url,
          TRUNKCTL_TOKEN: t.token,
          CHECKPOINT_DISABLE: '1',
          TF_IN_AUTOMATION: '1',
          TF_CLI_CONFIG_FILE: path.join(tmp, 'terraformrc'),
          CI: '1',
          NO_COLOR: '1',
          FORCE_COLOR: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, output, ms: Date.now() - started }));
    });
  }

  const cdktf = (...args: string[]) => exec(process.execPath, [CDKTF, ...args], appDir);
  const terraform = (...args: string[]) => exec('terraform', [`-chdir=cdktf.out/stacks/${STACK}`, ...args], appDir);
  const tail = (r: Run) => r.output.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '').slice(-3000);

  async function deploy(label: string): Promise<Run> {
    const r = await cdktf('deploy', '--auto-approve');
    timings[label] = r.ms;
    expect(r.code, tail(r)).to.equal(0);
    return r;
  }

  /** Edits the example like a user would; each edit must match exactly once. */
  function edit(from: string | RegExp, to: string): void {
    const file = path.join(appDir, 'main.ts');
    const text = fs.readFileSync(file, 'utf8');
    const matches = text.split(from).length - 1;
    expect(matches, `${String(from)} in main.ts`).to.equal(1);
    fs.writeFileSync(file, text.replace(from, to));
  }

  const trunkByRef = async (ref: string) => (await t.api('GET', `/v1/sms_trunks?filter[external_reference_id]=${encodeURIComponent(ref)}`)).body.data[0];
  const credentials = async (id: string) => (await t.api('GET', `/v1/sms_trunks/${id}/credentials`)).body.data.attributes;

  before(async function () {
    const version = terraformVersion();
    if (!version) {
      console.log('    skipped: `terraform` is not on PATH; install Terraform ≥ 1.4 (CI machines have 1.11) to run the trunks-as-code end-to-end test');
      this.skip();
    }
    console.log(`    using ${version}`);
    ensureBuilt();
    t = await startTestPlatform();
    const dids = await t.api('POST', '/v1/dids/import', fs.readFileSync(path.join(ROOT, 'examples/trunks-as-code/dids.csv'), 'utf8'), { 'content-type': 'text/csv' });
    expect(dids.status, dids.text).to.equal(200);

    // A second checkout of the repository: copies of what the stack reads, the installed packages and
    // the build shared by symlink.
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trunks-as-code-'));
    fs.writeFileSync(path.join(tmp, 'terraformrc'), '');
    const checkout = path.join(tmp, 'checkout-a');
    for (const rel of ['package.json', 'tsconfig.json', 'control-plane/bin', 'control-plane/src', 'cdktf-constructs/src', 'examples/trunks-as-code']) {
      fs.cpSync(path.join(ROOT, rel), path.join(checkout, rel), {
        recursive: true,
        filter: (src) => !/(cdktf\.out|\.terraform|\.tfstate)/.test(path.basename(src)),
      });
    }
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'), 'dir');
    fs.symlinkSync(path.join(ROOT, 'dist'), path.join(checkout, 'dist'), 'dir');
    appDir = path.join(checkout, 'examples/trunks-as-code');
    // The send loop below runs from loopback through the Marketing trunk, which allows only the
    // shared office list and a partner network.
    edit("cidrs: ['203.0.113.0/24', '2001:db8:1::/64']", "cidrs: ['203.0.113.0/24', '2001:db8:1::/64', '127.0.0.1']");
  });

  after(async () => {
    if (Object.keys(timings).length) console.log(`    timings (ms): ${JSON.stringify(timings)}; sends during the change deploy: ${sendsDuringChange}`);
    await t?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('deploys the example from a synthesized directory moved to another checkout, as the API then shows', async () => {
    const synth = await cdktf('synth');
    timings.synth = synth.ms;
    expect(synth.code, tail(synth)).to.equal(0);
    const stackJson = fs.readFileSync(path.join(appDir, `cdktf.out/stacks/${STACK}/cdk.tf.json`), 'utf8');
    expect(stackJson).to.not.contain(t.token);
    expect(stackJson).to.not.contain(tmp);
    expect(stackJson).to.not.contain(ROOT);

    // Same layout, other path: nothing in cdk.tf.json may point at the synthesizing checkout.
    const moved = path.join(tmp, 'checkout-b');
    fs.renameSync(path.join(tmp, 'checkout-a'), moved);
    appDir = path.join(moved, 'examples/trunks-as-code');
    const first = await cdktf('deploy', '--skip-synth', '--auto-approve');
    timings.firstDeploy = first.ms;
    expect(first.code, tail(first)).to.equal(0);
    expect(fs.readFileSync(path.join(appDir, `terraform.${STACK}.tfstate`), 'utf8')).to.not.contain(t.token);

    const sets = (await t.api('GET', '/v1/did_sets')).body.data;
    expect(sets.map((s: any) => [s.attributes.name, s.attributes.managed_by]).sort()).to.deep.equal([
      ['eu-senders', `cdktf:${STACK}`],
      ['us-senders', `cdktf:${STACK}`],
    ]);
    const alerts = await trunkByRef(REF('Alerts'));
    expect(alerts.attributes).to.include({ name: 'Alerts', allow_any_did_as_source: true, dlr_events: true, managed_by: `cdktf:${STACK}` });
    expect(alerts.attributes.allowed_ips).to.deep.equal([]);
    const marketing = await trunkByRef(REF('Marketing'));
    expect(marketing.attributes.allowed_ips).to.deep.equal(['203.0.113.0/24', '2001:db8:1::/64', '127.0.0.1/32', '198.51.100.0/24']);
    expect(marketing.relationships.outgoing_did_sets.data.map((r: any) => r.id).sort()).to.deep.equal(sets.map((s: any) => s.id).sort());
    expect(marketing.attributes.managed_spec_hash).to.match(/^[0-9a-f]{64}$/);
    const support = await trunkByRef(REF('Support'));
    expect(support.attributes).to.include({ name: 'Support', allow_any_did_as_source: false, rate_limit_per_second: 20 });
    expect(support.attributes.allowed_ips).to.deep.equal(['2001:db8:2::/64', '2001:db8:3::10/128']);
    expect(support.relationships.outgoing_dids.data).to.deep.equal([{ type: 'dids', id: '12125551234' }]);
  });

  it('deploys again without changing anything, and `terraform plan -detailed-exitcode` reports no changes', async () => {
    const before = await trunkByRef(REF('Marketing'));
    const again = await deploy('redeploy');
    expect(again.output).to.match(/No changes/);
    const plan = await terraform('plan', '-detailed-exitcode', '-input=false', '-no-color');
    timings.planNoChanges = plan.ms;
    expect(plan.code, tail(plan)).to.equal(0);
    expect((await trunkByRef(REF('Marketing'))).attributes.version).to.equal(before.attributes.version);
  });

  it('changes a callback URL and an allowed IP while a loop sends through the trunk: no failed send, same credentials', async () => {
    const before = await trunkByRef(REF('Marketing'));
    const creds = await credentials(before.id);
    const auth = basic(creds.username, creds.password);
    let running = true;
    let sent = 0;
    const failures: string[] = [];
    const loop = (async () => {
      const deadline = Date.now() + 120_000;
      while (running && Date.now() < deadline) {
        const r = await sendSms(t.url, auth, single({ destination: '15551234567', source: '12125551234', content: `loop ${sent}` }));
        if (r.status >= 200 && r.status < 300) sent++;
        else failures.push(`${r.status} ${r.text.slice(0, 200)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      edit("'https://hooks.example.com/sms/marketing'", "'https://hooks.example.com/sms/marketing-v2'");
      edit("'198.51.100.0/24'", "'198.51.100.0/25'");
      await deploy('changeDeploy');
    } finally {
      running = false;
      await loop;
    }
    sendsDuringChange = sent;
    expect(failures, failures.slice(0, 3).join('\n')).to.deep.equal([]);
    expect(sent).to.be.greaterThan(10);
    const after = await trunkByRef(REF('Marketing'));
    expect(after.id).to.equal(before.id);
    expect(after.attributes.callback_url).to.equal('https://hooks.example.com/sms/marketing-v2');
    expect(after.attributes.allowed_ips).to.include('198.51.100.0/25').and.not.include('198.51.100.0/24');
    expect(await credentials(after.id)).to.deep.include({ username: creds.username, password: creds.password });
  });

  it('renames a trunk: the same trunk keeps its id and credentials', async () => {
    const before = await trunkByRef(REF('Support'));
    const creds = await credentials(before.id);
    edit("name: 'Support',", "name: 'Customer Support',");
    await deploy('renameDeploy');
    const after = await trunkByRef(REF('Support'));
    expect(after.id).to.equal(before.id);
    expect(after.attributes.name).to.equal('Customer Support');
    expect(await credentials(after.id)).to.deep.include({ username: creds.username, password: creds.password });
  });

  it('regenerates the password when passwordRotation changes, and the old one keeps working through the grace period', async () => {
    const trunk = await trunkByRef(REF('Marketing'));
    const old = await credentials(trunk.id);
    edit("passwordRotation: '2025-01'", "passwordRotation: '2025-02'");
    await deploy('rotationDeploy');
    const now = await credentials(trunk.id);
    expect(now.username).to.equal(old.username);
    expect(now.password).to.not.equal(old.password);
    expect(Date.parse(now.previous_password_valid_until) - Date.now()).to.be.greaterThan(86_000_000);
    const send = (password: string) => sendSms(t.url, basic(old.username, password), single({ destination: '15551234567', source: '12125551234', content: 'rotated' }));
    expect((await send(old.password)).status).to.equal(201);
    expect((await send(now.password)).status).to.equal(201);
  });

  it('deletes a trunk removed from the stack', async () => {
    edit(/\n {4}\/\/ 1\. Allow-any[\s\S]*?\n {4}\}\);\n/, '\n');
    await deploy('removeDeploy');
    expect(await trunkByRef(REF('Alerts'))).to.equal(undefined);
    expect(await trunkByRef(REF('Marketing'))).to.not.equal(undefined);
  });

  it('refuses a manual edit of a managed trunk, and `trunkctl drift` reports a forced one until --fix restores it', async () => {
    const trunk = await trunkByRef(REF('Marketing'));
    const patch = (query: string) => t.api('PATCH', `/v1/sms_trunks/${trunk.id}${query}`, { data: { type: 'sms_trunks', attributes: { blocked: true } } });
    const refused = await patch('');
    expect(refused.status).to.equal(409);
    expect(refused.body.errors[0].code).to.equal('TRUNK_MANAGED');
    expect((await patch('?force=true')).status).to.equal(200);

    const trunkctl = (...args: string[]) => exec(process.execPath, [path.join(appDir, '../../control-plane/bin/trunkctl.js'), ...args], appDir);
    const drift = await trunkctl('drift', 'cdktf.out');
    expect(drift.code, drift.output).to.equal(3);
    expect(drift.output).to.contain(`~ trunk "Marketing" [ref ${REF('Marketing')}]: changed outside the stack`);
    expect(drift.output).to.match(/^ {6}blocked: declared false, live true$/m);
    expect(drift.output).to.contain('trunkctl: drift: 1 resource differs from the stack');

    const fixed = await trunkctl('drift', 'cdktf.out', '--fix');
    expect(fixed.code, fixed.output).to.equal(0);
    expect((await trunkByRef(REF('Marketing'))).attributes.blocked).to.equal(false);
    expect((await trunkctl('drift', 'cdktf.out')).code).to.equal(0);
  });

  it('destroys everything the stack made and leaves the DIDs alone', async () => {
    const r = await cdktf('destroy', '--auto-approve');
    timings.destroy = r.ms;
    expect(r.code, tail(r)).to.equal(0);
    expect((await t.api('GET', '/v1/sms_trunks')).body.meta.total).to.equal(0);
    expect((await t.api('GET', '/v1/did_sets')).body.meta.total).to.equal(0);
    expect((await t.api('GET', '/v1/dids')).body.meta.total).to.equal(3);
  });
});
