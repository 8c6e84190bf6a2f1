import { expect } from 'chai';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SmppCarrier } from '../../control-plane/src/connectors/smpp-connector';

/**
 * The connector against an SMPP implementation that shares no code with it: the example SMSC of
 * Debian's libnet-smpp-perl (Net::SMPP). Our own test SMSC is built on the same `smpp` package as
 * the connector, so a codec bug on both sides would cancel out there; it cannot here.
 *
 * smsc.pl is run from a patched copy: loopback instead of localhost, port 0 instead of 9900 (it
 * prints the port it got), and trace on, so it dumps every PDU it decoded to stderr.
 */
const EXAMPLE = '/usr/share/doc/libnet-smpp-perl/examples/smsc.pl';

function unavailable(): string | undefined {
  const perl = spawnSync('perl', ['-MNet::SMPP', '-e', '1'], { encoding: 'utf8' });
  if (perl.error) return `perl is not installed (${perl.error.message})`;
  if (perl.status !== 0) return 'the Perl module Net::SMPP is missing (apt-get install libnet-smpp-perl)';
  if (!fs.existsSync(EXAMPLE)) return `${EXAMPLE} is missing (libnet-smpp-perl not installed, or /usr/share/doc excluded by dpkg)`;
  return undefined;
}

function patchedScript(): string {
  const original = fs.readFileSync(EXAMPLE, 'utf8');
  const replacements: Array<[RegExp, string]> = [
    [/^\$host = 'localhost';$/m, "$host = '127.0.0.1';"],
    [/^\$port = 9900;$/m, '$port = 0;'],
    [/^\$trace = 0;$/m, '$trace = 1;'],
    [/^warn "\$\$: Entering accept loop";$/m, 'warn "listening on port " . $smpp->sockport . "\\n";'],
  ];
  let script = original;
  for (const [pattern, replacement] of replacements) {
    if (!pattern.test(script)) throw new Error(`${EXAMPLE} has changed: no line matches ${pattern}; update this test's patch`);
    script = script.replace(pattern, () => replacement);
  }
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'net-smpp-')), 'smsc.pl');
  fs.writeFileSync(file, script);
  return file;
}

describe('SmppCarrier against an independent SMSC (Net::SMPP smsc.pl)', function () {
  let perl: ChildProcess | undefined;
  let carrier: SmppCarrier | undefined;
  let stderr = '';
  let stdout = '';
  let script: string | undefined;

  before(function () {
    const reason = unavailable();
    if (reason) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
  });

  afterEach(async () => {
    await carrier?.stop();
    if (perl && perl.exitCode === null && perl.signalCode === null) {
      const exited = new Promise((r) => perl!.once('exit', r));
      perl.kill('SIGTERM');
      await exited;
    }
    // A forked per-connection child could still hold the pipes; do not let them keep mocha alive.
    perl?.stdout?.destroy();
    perl?.stderr?.destroy();
    if (script) fs.rmSync(path.dirname(script), { recursive: true, force: true });
  });

  async function startPerlSmsc(): Promise<number> {
    script = patchedScript();
    perl = spawn('perl', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    perl.stdout!.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    perl.stderr!.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = /listening on port (\d+)/.exec(stderr);
      if (m) return Number(m[1]);
      if (perl.exitCode !== null) throw new Error(`smsc.pl exited with ${perl.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`smsc.pl did not start listening: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('binds, submits a single and a two-part message, and unbinds; the Perl SMSC decodes what we sent', async () => {
    const port = await startPerlSmsc();
    carrier = new SmppCarrier({ host: '127.0.0.1', port, systemId: 'GSMSGW', password: 'secret', enquireLinkIntervalMs: 100 });

    await carrier.start();
    const single = await carrier.submit({ messageId: 'm1', source: '+4930123456', destination: '+4915112345671', content: 'hello from node' });
    const long = await carrier.submit({ messageId: 'm2', source: '+4930123456', destination: '+4915112345671', content: 'z'.repeat(200) });
    await new Promise((r) => setTimeout(r, 250));
    await carrier.stop();
    // The per-connection child exits on unbind, which flushes its buffered stdout.
    await until('smsc.pl to log the unbind', () => /:unbind\n/.test(stdout));

    expect(single.carrierMessageIds).to.deep.equal(['123456789']);
    expect(long.carrierMessageIds).to.deep.equal(['123456789', '123456789']);
    expect(stderr).to.match(/'system_id' => 'GSMSGW'/).and.match(/'password' => 'secret'/);
    expect(stderr).to.match(/'short_message' => 'hello from node'/);
    expect(stderr).to.match(/'destination_addr' => '4915112345671'/).and.match(/'source_addr' => '4930123456'/);
    expect(stderr.match(/'esm_class' => 64/g), 'both parts of the long message carry UDHI').to.have.length(2);
    expect(stdout).to.match(/Received #1 9:bind_transceiver/);
    expect(stdout.match(/:submit_sm\n/g)).to.have.length(3);
    expect(stdout).to.match(/:enquire_link\n/);
    expect(stdout).to.match(/:unbind\n/);
  });
});

async function until(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
