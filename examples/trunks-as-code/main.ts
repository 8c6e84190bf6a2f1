import { App, LocalBackend, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { AllowedIpList, ControlPlane, SmsTrunk, SourceDidSet } from '../../cdktf-constructs/src';

/** Two DID sets, one shared allowed-IP list and three trunks, reconciled through the API. */
class TrunksStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // State beside cdktf.json, by a path relative to cdktf.out/stacks/<stack>/ where Terraform runs:
    // cdktf's default local backend writes the absolute path of the synthesizing machine instead.
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });

    // Not a secret. The admin token is read from $TRUNKCTL_TOKEN when `cdktf deploy` runs.
    new ControlPlane(this, 'ControlPlane', { url: process.env.TRUNKCTL_URL ?? 'http://127.0.0.1:8080' });

    const usSenders = new SourceDidSet(this, 'UsSenders', { name: 'us-senders', dids: ['+12125551234', '+12125551235'] });
    const euSenders = new SourceDidSet(this, 'EuSenders', { name: 'eu-senders', dids: ['+4930123456'] });
    const offices = new AllowedIpList(this, 'Offices', { cidrs: ['203.0.113.0/24', '2001:db8:1::/64'] });

    // 1. Allow-any: every DID with sms_out may be the sender, any client address.
    new SmsTrunk(this, 'Alerts', {
      name: 'Alerts',
      callbackUrl: 'https://hooks.example.com/sms/alerts',
      dlrEvents: true,
    });

    // 2. Only the two sets, only from the offices and one partner network; rotated by bumping the value.
    new SmsTrunk(this, 'Marketing', {
      name: 'Marketing',
      callbackUrl: 'https://hooks.example.com/sms/marketing',
      allowedIps: [offices, '198.51.100.0/24'],
      sourceDidSets: [usSenders, euSenders],
      passwordRotation: '2025-01',
      passwordRotationGraceSeconds: 86_400,
    });

    // 3. An IPv6 allow-list and one DID.
    new SmsTrunk(this, 'Support', {
      name: 'Support',
      callbackUrl: 'https://hooks.example.com/sms/support',
      allowedIps: ['2001:db8:2::/64', '2001:db8:3::10'],
      sourceDids: ['+12125551234'],
      rateLimitPerSecond: 20,
    });
  }
}

const app = new App();
new TrunksStack(app, 'trunks-example');
app.synth();
