'use strict';
/**
 * Kannel (Debian's `kannel` package: bearerbox + smsbox) configured against the benchmark's own
 * SMSC and callback receiver: one SMPP transceiver bind, sendsms over HTTP, DLRs to a dlr-url.
 * Two flavours: `dlr-storage = internal` with no store (nothing survives a crash), and the same
 * with a message store file (`store-type = file`), Kannel's closest thing to durability.
 */
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { freePort, sh, sleep, stopChild, track } = require('./procs');

const BEARERBOX = '/usr/sbin/bearerbox';
const SMSBOX = '/usr/sbin/smsbox';

/** Installs Kannel with apt when missing, asked to and root; returns { ok, version } or { ok: false, reason }. */
function ensureKannel(log, { install = true } = {}) {
  const have = () => fs.existsSync(BEARERBOX) && fs.existsSync(SMSBOX);
  if (!have() && !install) return { ok: false, reason: 'Kannel is not installed (the smoke run does not install it; `npm run bench` does, or `apt-get install kannel kannel-extras`)' };
  if (!have()) {
    if (process.getuid && process.getuid() !== 0) return { ok: false, reason: 'Kannel is not installed and we are not root to `apt-get install kannel kannel-extras`' };
    log('installing Kannel: apt-get install -y kannel kannel-extras');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = sh('apt-get', ['install', '-y', '-qq', 'kannel', 'kannel-extras'], { env });
    if (r.code !== 0) {
      sh('apt-get', ['update', '-qq'], { env });
      r = sh('apt-get', ['install', '-y', '-qq', 'kannel', 'kannel-extras'], { env });
    }
    if (!have()) return { ok: false, reason: `apt-get install kannel kannel-extras failed: ${r.out.trim().split('\n').slice(-2).join(' ')}` };
  }
  const v = /version `([^']+)'/.exec(sh(BEARERBOX, ['--version']).out);
  return { ok: true, version: v ? v[1] : 'unknown' };
}

/**
 * Starts bearerbox and smsbox; resolves once the SMPP bind is online and smsbox is connected.
 * `smscPort` may be a port nobody listens on (submit-only runs: bearerbox queues what it accepts).
 */
async function startKannel({ dir, smscPort, store, waitOnline = true }) {
  fs.mkdirSync(dir, { recursive: true });
  const [adminPort, boxPort, sendsmsPort] = [await freePort(), await freePort(), await freePort()];
  const conf = [
    'group = core',
    `admin-port = ${adminPort}`,
    'admin-password = bench',
    'status-password = bench',
    'admin-allow-ip = "127.0.0.1"',
    `smsbox-port = ${boxPort}`,
    'box-allow-ip = "127.0.0.1"',
    `log-file = "${dir}/bearerbox.log"`,
    'log-level = 2',
    'dlr-storage = internal',
    ...(store ? ['store-type = file', `store-location = "${dir}/kannel.store"`] : []),
    '',
    'group = smsc',
    'smsc = smpp',
    'smsc-id = bench',
    'host = 127.0.0.1',
    `port = ${smscPort}`,
    'transceiver-mode = true',
    'smsc-username = bench',
    'smsc-password = bench',
    'system-type = ""',
    'max-pending-submits = 100',
    'enquire-link-interval = 30',
    'reconnect-delay = 1',
    '',
    'group = smsbox',
    'bearerbox-host = 127.0.0.1',
    `bearerbox-port = ${boxPort}`,
    `sendsms-port = ${sendsmsPort}`,
    `log-file = "${dir}/smsbox.log"`,
    'log-level = 2',
    'max-pending-requests = 1024',
    '',
    'group = sendsms-user',
    'username = bench',
    'password = bench',
    'max-messages = 10',
    'concatenation = true',
    '',
  ].join('\n');
  const confFile = path.join(dir, 'kannel.conf');
  fs.writeFileSync(confFile, conf);
  const out = (name) => fs.openSync(path.join(dir, name), 'a');
  const bearerbox = track(spawn(BEARERBOX, ['-v', '2', confFile], { stdio: ['ignore', out('bearerbox.out'), out('bearerbox.out')] }));
  await sleep(300);
  const smsbox = track(spawn(SMSBOX, ['-v', '2', confFile], { stdio: ['ignore', out('smsbox.out'), out('smsbox.out')] }));
  const status = async () => {
    try {
      return await (await fetch(`http://127.0.0.1:${adminPort}/status.txt?password=bench`)).text();
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = await status();
    const smsboxUp = /smsbox:/i.test(s) || /Box connections:[\s\S]*smsbox/i.test(s);
    const online = /bench\[[^\]]*\].*\(online/i.test(s) || /\(online \d+s/i.test(s);
    if (smsboxUp && (online || !waitOnline)) break;
    if (Date.now() > deadline) {
      await stopKannel({ bearerbox, smsbox });
      throw new Error(`Kannel did not come up within 30 s (smsbox ${smsboxUp ? 'connected' : 'not connected'}, SMSC ${online ? 'online' : 'not online'}):\n${s}`);
    }
    if (bearerbox.exitCode !== null || smsbox.exitCode !== null) throw new Error(`Kannel exited at start; see ${dir}/*.log`);
    await sleep(200);
  }
  // smsbox opens its sendsms port shortly after it connects to bearerbox.
  for (let i = 0; i < 50; i++) {
    try {
      await fetch(`http://127.0.0.1:${sendsmsPort}/`);
      break;
    } catch {
      await sleep(100);
    }
  }
  return { bearerbox, smsbox, adminPort, sendsmsPort, pids: [bearerbox.pid, smsbox.pid], status, confFile };
}

async function stopKannel(k) {
  await Promise.all([stopChild(k.smsbox, 5000), stopChild(k.bearerbox, 5000)]);
}

/** The sendsms request for one message with both DLRs (8 = SMSC accepted, 1 = delivered) to the receiver. */
function sendsmsPath({ to, receiverPort, text = 'Hello from the benchmark', dlr = true }) {
  const q = new URLSearchParams({ username: 'bench', password: 'bench', from: '12125551234', to, text });
  if (dlr) {
    q.set('dlr-mask', '27');
    q.set('dlr-url', `http://127.0.0.1:${receiverPort}/kannel?to=%p&type=%d`);
  }
  return `/cgi-bin/sendsms?${q}`;
}

module.exports = { ensureKannel, startKannel, stopKannel, sendsmsPath };
