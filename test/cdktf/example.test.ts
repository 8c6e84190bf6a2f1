import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/build';

const EXAMPLE = path.join(ROOT, 'examples/trunks-as-code');

describe('the trunks-as-code example app', function () {
  this.timeout(120_000);

  it('compiles with tsc (strict, as in CI)', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(EXAMPLE, 'tsconfig.json')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
  });

  it('synthesizes two DID sets, three trunks, a password rotation and a prune step, with no token in it', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'example-synth-'));
    const token = 'sat_example-token-that-must-not-appear-0123';
    try {
      // The app command of cdktf.json, with the output redirected so the repository stays clean.
      const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'main.ts'], {
        cwd: EXAMPLE,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', CDKTF_OUTDIR: out, TRUNKCTL_URL: 'https://trunks.example.com', TRUNKCTL_TOKEN: token },
      });
      expect(r.status, r.stdout + r.stderr).to.equal(0);
      const text = fs.readFileSync(path.join(out, 'stacks/trunks-example/cdk.tf.json'), 'utf8');
      expect(text).to.not.contain(token);
      const json = JSON.parse(text);
      const inputs = Object.values(json.resource.terraform_data as Record<string, any>).map((r) => r.input);
      const kinds = inputs.map((i) => i.kind).sort();
      expect(kinds).to.deep.equal(['did_set', 'did_set', 'password_rotation', 'prune', 'sms_trunk', 'sms_trunk', 'sms_trunk']);
      expect(inputs.filter((i) => i.kind === 'sms_trunk').map((i) => i.spec.name).sort()).to.deep.equal(['Alerts', 'Marketing', 'Support']);
      expect(new Set(inputs.map((i) => i.api))).to.deep.equal(new Set(['https://trunks.example.com']));
      expect(json.terraform.backend.local.path).to.equal('../../../terraform.trunks-example.tfstate');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('ships a GitHub Actions workflow that plans on pull requests and applies on main', () => {
    const workflow = fs.readFileSync(path.join(EXAMPLE, 'github-actions/trunks.yml'), 'utf8');
    expect(workflow).to.match(/^on:\n {2}pull_request:/m).and.match(/^ {2}push:\n {4}branches: \[main\]/m);
    expect(workflow).to.contain('trunkctl drift cdktf.out').and.contain('cdktf plan').and.contain('cdktf deploy --skip-synth --auto-approve');
    expect(workflow).to.contain('TRUNKCTL_TOKEN: ${{ secrets.TRUNKCTL_TOKEN }}');
  });
});
