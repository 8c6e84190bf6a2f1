#!/usr/bin/env node
'use strict';
/**
 * `npm run bench`: send-path throughput and latency, bulk, end-to-end callbacks, reconcile at
 * scale, side by side with a bare Express 5 handler and Kannel on the same machine in the same run.
 * Prints a table and regenerates docs/BENCHMARKS.md. `--smoke` is the few-seconds CI version
 * (correctness only). See bench/README.md for the knobs.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { closedLoop, now } = require('./lib/load');
const { startRig, paced } = require('./lib/rig');
const { ensureKannel, startKannel, stopKannel, sendsmsPath } = require('./lib/kannel');
const { startPostgres } = require('./lib/postgres');
const { ROOT, MAIN_JS, forkHelper, freePort, startPlatform, RssSampler, sleep, sh } = require('./lib/procs');
const { reconcileUnavailable, runReconcile } = require('./lib/reconcile');
const { renderReport, renderConsole, evaluateTargets } = require('./lib/report');
const { median, percentile, slope } = require('./lib/stats');

const argv = process.argv.slice(2);
const SMOKE = argv.includes('--smoke') || process.env.BENCH_SMOKE === '1';
const onlyArg = argv.find((a) => a.startsWith('--only='));
const ONLY = (onlyArg ? onlyArg.slice(7) : process.env.BENCH_ONLY || '').split(',').filter(Boolean);
const env = (name, full, smoke) => (process.env[name] !== undefined && process.env[name] !== '' ? Number(process.env[name]) : SMOKE ? smoke : full);
const CFG = {
  smoke: SMOKE,
  durationS: env('BENCH_DURATION_S', 10, 1),
  warmupS: env('BENCH_WARMUP_S', 3, 1),
  repeats: env('BENCH_REPEATS', 3, 1),
  concurrency: (process.env.BENCH_CONCURRENCY || '1,16,64').split(',').map(Number),
  bulkConcurrency: env('BENCH_BULK_CONCURRENCY', 8, 2),
  e2eRate: env('BENCH_E2E_RATE', 4000, 200),
  // An explicit list of rates replaces the search (each run after a pause, on the same instance).
  e2eRates: (process.env.BENCH_E2E_RATES || '').split(',').filter(Boolean).map((r) => {
    if (!(Number(r) > 0)) throw new Error(`BENCH_E2E_RATES: ${JSON.stringify(r)} is not a rate (messages per second, e.g. 1800,1800)`);
    return Number(r);
  }),
  e2eDurationS: env('BENCH_E2E_DURATION_S', 20, 2),
  e2eSteps: env('BENCH_E2E_STEPS', 6, 1),
  e2ePauseS: env('BENCH_E2E_PAUSE_S', 5, 0),
  // Open loop: enough connections that the client does not cap the rate. With one request in flight
  // per connection, n connections carry at most n / (mean submit latency) requests a second, and a
  // durable submit waits for a commit round (20-60 ms here): 64 capped ours near 2,000/s (see bench/README.md).
  e2eConnections: env('BENCH_E2E_CONNECTIONS', 256, 16),
  drainTimeoutS: env('BENCH_DRAIN_TIMEOUT_S', 60, 30),
  trunks: env('BENCH_TRUNKS', 200, 5),
  logLevel: process.env.BENCH_LOG_LEVEL || 'info',
  // A smoke or partial (--only) run does not overwrite the full report unless BENCH_OUT says so.
  out: process.env.BENCH_OUT !== undefined ? process.env.BENCH_OUT : SMOKE || ONLY.length > 0 ? '' : path.join(ROOT, 'docs/BENCHMARKS.md'),
  json: process.env.BENCH_JSON || '',
};
// Smoke runs skip the slow phases unless asked for by name.
const PHASES = ['submit', 'bulk', 'e2e', 'ceiling', 'kannel', 'reconcile', 'pg', 'components'];
const want = (phase) => (ONLY.length ? ONLY.includes(phase) : !SMOKE || !['reconcile', 'pg'].includes(phase) || (phase === 'pg' && !!process.env.BENCH_DATABASE_URL));

const SOURCE = '12125551234';
const CONTENT = 'Hello from the benchmark';
const started = new Date();
const log = (...a) => console.log(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)}s]`, ...a);
const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

const R = {
  startedAt: started.toISOString(),
  config: CFG,
  machine: machineInfo(),
  load: { start: loadavg() },
  submit: {},
  bulk: undefined,
  e2e: {},
  reconcile: undefined,
  components: {},
  skipped: {},
  problems: [],
};

function machineInfo() {
  const cpu = os.cpus();
  const git = sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']).out.trim();
  const dirty = sh('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)docs/BENCHMARKS.md']).out.trim() !== ''; // the report it is about to rewrite does not count
  return {
    nproc: Number(sh('nproc', []).out.trim()) || cpu.length,
    cpu: cpu[0] ? cpu[0].model : 'unknown',
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    commit: git ? `${git}${dirty ? ' (with uncommitted changes)' : ''}` : 'unknown',
  };
}

// ---------------------------------------------------------------- our platform

const singleBody = (destination) => JSON.stringify({ data: { type: 'outbound_messages', attributes: { destination, source: SOURCE, content: CONTENT } } });

/** One or more instances of the control plane sharing a database, with a trunk, its DID and credentials. */
async function ourStack({ label, databaseUrl, instances = 1, workers, smscPort, receiverPort }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${label}-`));
  const carriersFile = path.join(dir, 'carriers.json');
  // The SMSC contract of the benchmark: a wide window and no throughput cap below what we offer.
  fs.writeFileSync(
    carriersFile,
    JSON.stringify({
      connectors: [{ name: 'bench-smsc', type: 'smpp', host: '127.0.0.1', port: smscPort, systemId: 'bench', passwordEnv: 'BENCH_SMPP_PASSWORD', windowSize: 100, maxSubmitsPerSecond: 50_000 }],
      default: 'bench-smsc',
    }),
  );
  const token = `bench-admin-${crypto.randomBytes(12).toString('hex')}`;
  const common = {
    ADMIN_TOKEN: token,
    SECRETS_KEY: crypto.randomBytes(32).toString('hex'),
    CALLBACK_ALLOW_CIDRS: '127.0.0.0/8',
    CARRIERS_FILE: carriersFile,
    BENCH_SMPP_PASSWORD: 'bench',
    WORKERS: String(workers),
    LOG_LEVEL: CFG.logLevel,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  const servers = [];
  for (let i = 0; i < instances; i++) {
    servers.push(await startPlatform({ ...common, DATA_DIR: path.join(dir, `data-${i}`), INSTANCE_ID: `bench-${label}-${i}` }, path.join(dir, `server-${i}.log`)));
  }
  const api = async (method, urlPath, body, headers = {}) => {
    const res = await fetch(servers[0].url + urlPath, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/vnd.api+json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, text };
  };
  const doc = (type, attributes) => ({ data: { type, attributes } });
  const did = await api('POST', '/v1/dids', doc('dids', { number: SOURCE }));
  if (did.status !== 201) throw new Error(`creating the DID failed: ${did.status} ${did.text}`);
  const trunk = await api(
    'POST',
    '/v1/sms_trunks',
    doc('sms_trunks', { name: 'Bench', callback_url: `http://127.0.0.1:${receiverPort}/callbacks`, dlr_events: true, allowed_ips: ['127.0.0.0/8'] }),
  );
  if (trunk.status !== 201) throw new Error(`creating the trunk failed: ${trunk.status} ${trunk.text}`);
  const trunkId = trunk.body.data.id;
  const creds = (await api('GET', `/v1/sms_trunks/${trunkId}/credentials`)).body.data.attributes;
  const secret = (await api('GET', `/v1/sms_trunks/${trunkId}/callback_secret`)).body.data.attributes.secret;
  const auth = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  const hostPort = servers.map((s) => new URL(s.url));
  return {
    dir,
    servers,
    token,
    api,
    secret,
    auth,
    pids: servers.map((s) => s.pid),
    closedTargets: (body, urlPath = '/outbound_messages') =>
      servers.map((s) => ({ url: s.url + urlPath, method: 'POST', headers: { authorization: auth, 'content-type': 'application/vnd.api+json' }, body })),
    pacedTargets: () =>
      hostPort.map((u) => ({
        host: u.hostname,
        port: Number(u.port),
        request: (dest) => {
          const body = singleBody(dest);
          return { method: 'POST', path: '/outbound_messages', headers: { authorization: auth, 'content-type': 'application/vnd.api+json', 'content-length': Buffer.byteLength(body) }, body };
        },
      })),
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      if (!process.env.BENCH_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- phases

/** Closed-loop runs at each concurrency: warm-up, then `repeats` measured runs; medians reported. */
async function submitSeries(label, targets, pids, concurrency = CFG.concurrency, messagesPerRequest = 1) {
  const rss = new RssSampler(pids);
  const out = { byConcurrency: {} };
  for (const c of concurrency) {
    const t = targets.slice(0, Math.min(c, targets.length));
    if (CFG.warmupS > 0) await closedLoop({ targets: t, connections: c, durationS: CFG.warmupS });
    const runs = [];
    const cpu0 = rss.cpuSeconds;
    for (let i = 0; i < CFG.repeats; i++) runs.push(await closedLoop({ targets: t, connections: c, durationS: CFG.durationS }));
    rss.sample();
    const accepted = runs.reduce((s, x) => s + x.ok, 0) * (messagesPerRequest || 1);
    const r = {
      cpuMsPerMsg: accepted ? ((rss.cpuSeconds - cpu0) * 1000) / accepted : NaN,
      rps: median(runs.map((x) => x.rps)),
      p50: median(runs.map((x) => x.p50)),
      p99: median(runs.map((x) => x.p99)),
      failed: runs.reduce((s, x) => s + x.non2xx + x.errors, 0),
      runs: runs.map((x) => ({ rps: Math.round(x.rps), p50: +x.p50.toFixed(3), p99: +x.p99.toFixed(3), failed: x.non2xx + x.errors })),
      loadavg: loadavg(),
    };
    out.byConcurrency[c] = r;
    log(`${label} c=${c}: ${Math.round(r.rps)}/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms failed ${r.failed}, ${r.cpuMsPerMsg.toFixed(3)} CPU ms/msg (load ${r.loadavg})`);
    if (r.failed) R.problems.push(`${label} c=${c}: ${r.failed} requests failed`);
  }
  out.peakRssBytes = rss.stop();
  return out;
}

/**
 * Open-loop end to end at `rate`: every accepted message must reach the receiver as a status and a
 * final DLR callback. Backlog (accepted minus DLR callbacks received) is sampled every second.
 */
async function e2eRun(label, { targets, pids, smsc, rx, rate, durationS, prefix }) {
  smsc.record(prefix);
  rx.record(prefix);
  await Promise.all([smsc.call('stats'), rx.call('stats')]);
  const rss = new RssSampler(pids);
  // The rig's own CPU (SMSC, receiver, load generator): taken from the same two cores as the systems measured.
  const rig = new RssSampler([smsc.pid, rx.pid]);
  const series = [];
  const t0 = now();
  const load = await paced({
    targets,
    rate,
    durationS,
    connections: CFG.e2eConnections,
    prefix,
    tick: (s, counts) => {
      // Issued, not answered: requests queued in front of a slow server are backlog too.
      const issued = counts.issued;
      void rx.call('stats').then((st) => series.push({ t: s, accepted: issued, status: st.counts.status, dlr: st.counts.dlr }));
    },
  });
  const loadEnd = now();
  let st;
  const deadline = Date.now() + CFG.drainTimeoutS * 1000;
  for (;;) {
    st = await rx.call('stats');
    if ((st.counts.dlr >= load.counts.ok && st.counts.status >= load.counts.ok) || Date.now() > deadline) break;
    await sleep(50);
  }
  const drainSeconds = (now() - loadEnd) / 1000;
  const peakRssBytes = rss.stop();
  const cpuSeconds = rss.cpuSeconds;
  rig.stop();
  const rigCpuSeconds = rig.cpuSeconds + (load.cpuSeconds || 0);
  const [sm, rxd, smStats] = await Promise.all([smsc.call('dump'), rx.call('dump'), smsc.call('stats')]);
  const receiptAt = new Map(sm.receipts);
  const statusAt = new Map(rxd.status);
  const dlrAt = new Map(rxd.dlr);
  const receiptToCallback = [];
  const submitToStatus = [];
  const submitToDlr = [];
  let missingStatus = 0;
  let missingDlr = 0;
  for (const [dest, sent] of load.sentAt) {
    const s = statusAt.get(dest);
    const d = dlrAt.get(dest);
    const r = receiptAt.get(dest);
    if (s === undefined) missingStatus++;
    else submitToStatus.push(s - sent);
    if (d === undefined) missingDlr++;
    else {
      submitToDlr.push(d - sent);
      if (r !== undefined) receiptToCallback.push(d - r);
    }
  }
  // Callbacks per second while the load ran, after the first quarter (ramp-up) of it.
  const from = (load.t0 || t0) + durationS * 250;
  const to = (load.t0 || t0) + durationS * 1000;
  let inWindow = 0;
  for (const t of dlrAt.values()) if (t >= from && t <= to) inWindow++;
  const second = series.filter((p) => p.t > durationS / 2).map((p) => [p.t, p.accepted - p.dlr]);
  const growth = slope(second);
  const backlogEnd = series.length ? series[series.length - 1].accepted - series[series.length - 1].dlr : 0;
  const complete = missingStatus === 0 && missingDlr === 0;
  const growing = growth > 0.05 * rate;
  const res = {
    offeredRate: rate,
    durationS,
    accepted: load.counts.ok,
    rejected: load.counts.failed,
    shed: load.counts.shed,
    // Over the time the load actually took: a server that answers too slowly stretches it.
    loadSeconds: load.seconds,
    acceptedRate: load.counts.ok / load.seconds,
    callbackRate: inWindow / (durationS * 0.75),
    submitP50: load.p50,
    submitP99: load.p99,
    receiptToCallbackP50: percentile(receiptToCallback, 50),
    receiptToCallbackP99: percentile(receiptToCallback, 99),
    submitToStatusP50: percentile(submitToStatus, 50),
    submitToStatusP99: percentile(submitToStatus, 99),
    submitToDlrP50: percentile(submitToDlr, 50),
    submitToDlrP99: percentile(submitToDlr, 99),
    backlogGrowthPerS: growth,
    backlogEnd,
    drainSeconds,
    growing,
    missingStatus,
    missingDlr,
    duplicates: st.counts.duplicates,
    verifiedSignatures: st.counts.verified,
    badSignatures: st.counts.badSignatures,
    smscSubmits: smStats.counts.submits,
    complete,
    peakRssBytes,
    cpuMsPerMsg: load.counts.ok ? (cpuSeconds * 1000) / load.counts.ok : NaN,
    rigCpuMsPerMsg: load.counts.ok ? (rigCpuSeconds * 1000) / load.counts.ok : NaN,
    loadavg: loadavg(),
    failures: load.failures,
  };
  // Held: everything came back, nothing was refused, the backlog did not grow, and the submits kept
  // up with the offered rate (within 3 %: what the generator queued behind a slow server is backlog
  // too, even when the server's own backlog stays flat).
  res.sustained = complete && !growing && load.counts.failed === 0 && load.counts.shed === 0 && drainSeconds < 5 && res.acceptedRate >= rate * 0.97 && res.callbackRate >= rate * 0.9;
  log(
    `${label} e2e @${rate}/s: accepted ${res.acceptedRate.toFixed(0)}/s, DLR callbacks ${res.callbackRate.toFixed(0)}/s, ` +
      `receipt→callback p50 ${res.receiptToCallbackP50.toFixed(1)} p99 ${res.receiptToCallbackP99.toFixed(1)} ms, submit p99 ${res.submitP99.toFixed(1)} ms, ` +
      `backlog +${growth.toFixed(0)}/s, drain ${drainSeconds.toFixed(1)} s, missing ${missingStatus}/${missingDlr}, ${res.cpuMsPerMsg.toFixed(3)} CPU ms/msg (rig ${res.rigCpuMsPerMsg.toFixed(3)}), ${res.sustained ? 'sustained' : 'NOT sustained'} (load ${res.loadavg})`,
  );
  if (!complete) R.problems.push(`${label} e2e @${rate}/s: ${missingStatus} status and ${missingDlr} DLR callbacks missing after ${drainSeconds.toFixed(0)} s`);
  if (res.badSignatures) R.problems.push(`${label} e2e: ${res.badSignatures} callbacks with a bad signature`);
  // What the receiver could not read (an unframeable request, a bad signature): said, not just counted as missing.
  for (const p of st.problems || []) R.problems.push(`${label} e2e @${rate}/s: callback receiver: ${p}`);
  return res;
}

let prefixSeq = 10;
/**
 * Warm-up, then the target rate; then up 25 % while every rate held, down to what flowed while none
 * did, and halfway between the highest rate that held and the lowest bound from one that did not
 * (BENCH_E2E_STEPS runs). BENCH_E2E_RATES=a,b,c runs exactly those rates instead.
 */
async function e2eSeries(label, opts) {
  if (CFG.warmupS > 0) await e2eRun(`${label} (warm-up)`, { ...opts, rate: Math.min(CFG.e2eRate, 2000), durationS: Math.max(1, CFG.warmupS), prefix: `4${prefixSeq++}` });
  const attempts = [];
  let rate = CFG.e2eRates.length ? CFG.e2eRates[0] : CFG.e2eRate;
  const steps = CFG.e2eRates.length || CFG.e2eSteps;
  for (let i = 0; i < steps; i++) {
    // A pause before each rate, so what an overloaded run left behind (garbage to collect, queues to
    // empty, in the system and in the load generator) does not count against the next one.
    if (i > 0 && !SMOKE) await sleep(CFG.e2ePauseS * 1000);
    const r = await e2eRun(label, { ...opts, rate, durationS: CFG.e2eDurationS, prefix: `4${prefixSeq++}` });
    attempts.push(r);
    if (CFG.e2eRates.length) {
      rate = CFG.e2eRates[i + 1];
      continue;
    }
    const lo = Math.max(0, ...attempts.filter((a) => a.sustained).map((a) => a.offeredRate));
    // A rate that did not hold bounds the search at what flowed through it (plus a margin), not at
    // what was offered: from a far-off target the halfway points would all be overloads too.
    const hi = Math.min(Infinity, ...attempts.filter((a) => !a.sustained).map((a) => Math.min(a.offeredRate, Math.max(a.callbackRate, a.acceptedRate) * 1.25)));
    let next;
    if (lo === 0) {
      // Down: to 90 % of what actually flowed when that is lower than three quarters, so a far-off
      // target converges in one step instead of spending every step above capacity.
      next = Math.min(rate * 0.75, Math.max(r.callbackRate, r.acceptedRate) * 0.9);
    } else if (hi === Infinity) next = rate * 1.25;
    else if (hi / lo < 1.05) break;
    else next = (lo + hi) / 2;
    rate = Math.round(next / 50) * 50;
    if (rate < 50 || attempts.some((a) => a.offeredRate === rate)) break;
  }
  const held = attempts.filter((a) => a.sustained);
  return { attempts, atTarget: attempts[0], sustainedRate: held.length ? Math.max(...held.map((a) => a.offeredRate)) : NaN, best: held.sort((a, b) => b.offeredRate - a.offeredRate)[0] };
}

/**
 * The send path's two network clients alone, each in a process of its own against the C rig
 * (bench/connector.js, bench/callbacks.js): CPU per unit of work, median of the rounds.
 */
function measureComponents() {
  const runs = [
    ['connector', 'connector.js', 'SMPP connector (submit_sm → submit_sm_resp → deliver_sm → deliver_sm_resp)', 'message', SMOKE ? [2000, 1] : [50_000, 5]],
    ['callbacks', 'callbacks.js', 'callback client (signed JSON POST, keep-alive, 64 connections)', 'POST', SMOKE ? [1000, 1] : [30_000, 5]],
  ];
  for (const [key, script, what, unit, [total, rounds]] of runs) {
    const r = sh(process.execPath, [path.join(__dirname, script), String(total), String(rounds), '--json']);
    const line = r.out.split('\n').filter((l) => l.startsWith('{')).pop() || '';
    let parsed;
    try {
      parsed = JSON.parse(line);
    } catch {
      R.problems.push(`components: ${script} gave no result (exit ${r.code}: ${r.out.trim().slice(-300)})`);
      continue;
    }
    R.components[key] = { what, unit, ...parsed };
    log(`${what}: ${parsed.usPerUnit.toFixed(1)} µs CPU per ${unit} (median of ${rounds} rounds of ${total})`);
  }
}

// ---------------------------------------------------------------- main

async function main() {
  log(`machine: ${R.machine.nproc} CPUs (${R.machine.cpu}), ${R.machine.memoryGiB} GiB, ${R.machine.node}; load average ${R.load.start}${SMOKE ? ' — smoke mode' : ''}`);
  if (!fs.existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run \`npm run build\` first (npm run bench does)`);
  const smsc = await startRig('smsc', { systemId: 'bench', password: 'bench' });
  const rx = await startRig('receiver');
  const cleanups = [() => smsc.stop(), () => rx.stop()];
  try {
    // 0. The two network clients of the send path, alone.
    if (want('components')) measureComponents();
    // 1. Submit: bare Express, then ours on SQLite (API only: delivery paused, as for Kannel below).
    if (want('submit')) {
      const bare = await forkHelper('bare-express.js', {});
      R.submit.bare = await submitSeries('bare Express 5', [{ url: `http://127.0.0.1:${bare.port}/outbound_messages`, method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: singleBody('15551234567') }], [bare.pid]);
      await bare.stop();
    }
    if (want('submit') || want('bulk')) {
      const ours = await ourStack({ label: 'submit', workers: false, smscPort: smsc.port, receiverPort: rx.port });
      try {
        if (want('submit')) R.submit.ours = await submitSeries('ours (SQLite)', ours.closedTargets(singleBody('15551234567')), ours.pids);
        if (want('bulk')) {
          const dests = Array.from({ length: 1000 }, (_, i) => `1555${String(1_000_000 + i).slice(1)}`);
          const body = JSON.stringify({ data: { type: 'bulk_outbound_messages', attributes: { destination: dests, source: SOURCE, content: CONTENT } } });
          const s = await submitSeries('ours bulk ×1000 (SQLite)', ours.closedTargets(body, '/bulk_outbound_messages'), ours.pids, [CFG.bulkConcurrency], 1000);
          const c = s.byConcurrency[CFG.bulkConcurrency];
          R.bulk = { concurrency: CFG.bulkConcurrency, requestsPerS: c.rps, messagesPerS: c.rps * 1000, p50: c.p50, p99: c.p99, failed: c.failed, cpuMsPerMsg: c.cpuMsPerMsg, peakRssBytes: s.peakRssBytes };
        }
      } finally {
        await ours.stop();
      }
    }

    // 3. End to end on SQLite.
    if (want('e2e')) {
      const ours = await ourStack({ label: 'e2e', workers: true, smscPort: smsc.port, receiverPort: rx.port });
      try {
        rx.secret(ours.secret, SMOKE ? 1 : 20);
        await waitFor('the SMPP bind', async () => (await smsc.call('stats')).counts.binds >= 1);
        R.e2e.ours = await e2eSeries('ours (SQLite)', { targets: ours.pacedTargets(), pids: ours.pids, smsc, rx });
      } finally {
        rx.secret(undefined, 0);
        await ours.stop();
      }
    }

    // 3b. The stack's own end-to-end ceiling: node:http, the smpp client and undici with nothing kept,
    // then the same with the least a durable gateway writes (one row per message, group-committed).
    if (want('ceiling')) {
      for (const [key, label, durable] of [
        ['bare', 'bare gateway (no database)', false],
        ['bareDurable', 'bare gateway, durable (one table)', true],
      ]) {
        const secret = `whsec_${crypto.randomBytes(24).toString('base64')}`;
        const dir = durable ? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-lean-')) : undefined;
        const gw = await forkHelper('bare-gateway.js', { smscPort: smsc.port, receiverPort: rx.port, secret, systemId: 'bench', password: 'bench', ...(dir ? { durable: path.join(dir, 'lean.sqlite3') } : {}) });
        try {
          rx.secret(secret, SMOKE ? 1 : 20);
          const targets = [
            {
              host: '127.0.0.1',
              port: gw.port,
              request: (dest) => {
                const body = singleBody(dest);
                return { method: 'POST', path: '/outbound_messages', headers: { 'content-type': 'application/vnd.api+json', 'content-length': Buffer.byteLength(body) }, body };
              },
            },
          ];
          R.e2e[key] = await e2eSeries(label, { targets, pids: [gw.pid], smsc, rx });
          if (durable) {
            const st = await gw.call({ cmd: 'stats' });
            R.e2e[key].store = { rounds: st.counts.rounds, ...st.stored };
          }
        } finally {
          rx.secret(undefined, 0);
          await gw.stop();
          if (dir) fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    } else R.skipped.ceiling = 'not selected (--only)';

    // 4. Kannel: same SMSC, same receiver.
    if (want('kannel')) {
      const k = ensureKannel(log, { install: !SMOKE });
      if (!k.ok) {
        R.skipped.kannel = k.reason;
        log(`Kannel skipped: ${k.reason}`);
      } else {
        R.machine.kannel = k.version;
        for (const store of [false, true]) {
          const key = store ? 'kannelStore' : 'kannel';
          const label = store ? 'Kannel (store-file)' : 'Kannel';
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${key}-`));
          try {
            if (want('submit')) {
              // Submit-only: the SMSC port has no listener, so bearerbox queues what smsbox accepts ("3: Queued for later delivery").
              const kan = await startKannel({ dir: path.join(dir, 'submit'), smscPort: await freePort(), store, waitOnline: false });
              try {
                const url = `http://127.0.0.1:${kan.sendsmsPort}${sendsmsPath({ to: '15551234567', receiverPort: rx.port, dlr: false })}`;
                R.submit[key] = await submitSeries(label, [{ url, method: 'GET' }], kan.pids, store ? [CFG.concurrency[CFG.concurrency.length - 1]] : CFG.concurrency);
              } finally {
                await stopKannel(kan);
              }
            }
            if (want('e2e')) {
              const kan = await startKannel({ dir: path.join(dir, 'e2e'), smscPort: smsc.port, store });
              try {
                const targets = [{ host: '127.0.0.1', port: kan.sendsmsPort, request: (dest) => ({ method: 'GET', path: sendsmsPath({ to: dest, receiverPort: rx.port }), headers: {} }) }];
                R.e2e[key] = await e2eSeries(label, { targets, pids: kan.pids, smsc, rx });
              } finally {
                await stopKannel(kan);
              }
            }
          } finally {
            if (!process.env.BENCH_KEEP) fs.rmSync(dir, { recursive: true, force: true });
          }
        }
      }
    } else R.skipped.kannel = 'not selected (--only)';

    // 5. Reconcile at scale.
    if (want('reconcile')) {
      const why = reconcileUnavailable();
      if (why) {
        R.skipped.reconcile = `skipped: ${why}`;
        log(`reconcile skipped: ${why}`);
      } else {
        const ours = await ourStack({ label: 'reconcile', workers: false, smscPort: smsc.port, receiverPort: rx.port });
        try {
          log(`reconcile: cdktf deploy of a generated stack with ${CFG.trunks} trunks`);
          R.reconcile = await runReconcile({ url: ours.servers[0].url, token: ours.token, trunks: CFG.trunks, api: ours.api });
          log(`reconcile: deploy ${R.reconcile.deploySeconds.toFixed(1)} s, no-change plan ${R.reconcile.planSeconds.toFixed(1)} s, no-change deploy ${R.reconcile.redeploySeconds.toFixed(1)} s`);
        } catch (err) {
          R.problems.push(`reconcile failed: ${err.message.slice(0, 1500)}`);
          log(`reconcile failed: ${err.message}`);
        } finally {
          await ours.stop();
        }
      }
    } else R.skipped.reconcile = 'not selected' + (SMOKE ? ' (smoke mode)' : '');

    // 6. PostgreSQL, two instances.
    if (want('pg')) {
      const pg = await startPostgres(log);
      if (pg.skip) {
        R.skipped.pg = pg.skip;
        log(`PostgreSQL skipped: ${pg.skip}`);
      } else {
        R.machine.postgres = `${pg.version} (${pg.source})`;
        cleanups.push(() => pg.stop());
        try {
          if (want('submit')) {
            const ours = await ourStack({ label: 'pg-submit', databaseUrl: pg.url, instances: 2, workers: false, smscPort: smsc.port, receiverPort: rx.port });
            try {
              R.submit.pg = await submitSeries('ours (PostgreSQL, 2 instances)', ours.closedTargets(singleBody('15551234567')), ours.pids);
            } finally {
              await ours.stop();
            }
          }
          if (want('e2e')) {
            const db = await freshPgDatabase(pg.url, 'e2e');
            const ours = await ourStack({ label: 'pg-e2e', databaseUrl: db, instances: 2, workers: true, smscPort: smsc.port, receiverPort: rx.port });
            try {
              rx.secret(ours.secret, SMOKE ? 1 : 20);
              await waitFor('both SMPP binds', async () => (await smsc.call('stats')).counts.binds >= 2 + (R.e2e.ours ? 1 : 0) + (R.e2e.bare ? 1 : 0) + (R.e2e.kannel ? 1 : 0) + (R.e2e.kannelStore ? 1 : 0));
              R.e2e.pg = await e2eSeries('ours (PostgreSQL, 2 instances)', { targets: ours.pacedTargets(), pids: ours.pids, smsc, rx });
            } finally {
              rx.secret(undefined, 0);
              await ours.stop();
            }
          }
        } catch (err) {
          R.problems.push(`PostgreSQL runs failed: ${err.message.slice(0, 1500)}`);
          log(`PostgreSQL runs failed: ${err.stack}`);
        }
      }
    } else R.skipped.pg = 'not selected' + (SMOKE ? ' (smoke mode; set BENCH_DATABASE_URL to include it)' : '');
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e) => log(`cleanup: ${e.message}`));
  }

  R.load.end = loadavg();
  R.finishedAt = new Date().toISOString();
  R.targets = evaluateTargets(R);
  const table = renderConsole(R);
  console.log('\n' + table);
  if (CFG.out) {
    fs.mkdirSync(path.dirname(CFG.out), { recursive: true });
    fs.writeFileSync(CFG.out, renderReport(R));
    log(`wrote ${path.relative(process.cwd(), CFG.out) || CFG.out}`);
  }
  if (CFG.json) fs.writeFileSync(CFG.json, JSON.stringify(R, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2));
  return R;
}

/** Each PostgreSQL run gets its own database, so the two-instance e2e run starts from empty tables. */
async function freshPgDatabase(url, suffix) {
  const { Client } = require('pg');
  const name = `bench_${suffix}_${Date.now().toString(36)}`;
  const c = new Client({ connectionString: url });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function waitFor(what, probe, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

if (require.main === module) {
  main().then(
    (r) => process.exit(SMOKE && r.problems.length ? 1 : 0),
    (err) => {
      console.error(`bench failed: ${err && err.stack ? err.stack : err}`);
      process.exit(1);
    },
  );
}

module.exports = { main, PHASES };
