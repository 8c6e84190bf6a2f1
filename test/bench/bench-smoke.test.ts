import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBuilt, ROOT } from '../support/build';

/**
 * `npm run bench -- --smoke`: the benchmark harness in its few-seconds mode, for correctness only
 * (no timing is asserted: CI machines are shared). Every accepted message must come back as a
 * status and a DLR callback with a valid signature, and the table must be printed. Kannel runs
 * when it is installed; otherwise the harness says why it skipped it.
 */
describe('benchmark harness (smoke mode)', function () {
  this.timeout(300_000);

  it('runs submit, bulk and end-to-end rounds, every accepted message produces both callbacks, and prints the table', async () => {
    ensureBuilt();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
    const json = path.join(dir, 'results.json');
    const out = path.join(dir, 'BENCHMARKS.md');
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bench/run.js'), '--smoke'], {
        cwd: ROOT,
        env: { ...process.env, BENCH_JSON: json, BENCH_OUT: out },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.stderr.on('data', (d) => (text += d));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c ?? -1, output: text }));
    });
    try {
      expect(code, output.slice(-4000)).to.equal(0);
      const r = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(output).to.match(/Submit \(POST \/outbound_messages, closed loop\)/);
      expect(output).to.match(/End to end \(submit → SMPP → receipt → callbacks, open loop\)/);
      expect(output).to.match(/Targets/);
      expect(r.problems, output.slice(-3000)).to.deep.equal([]);
      for (const system of ['bare', 'ours']) {
        for (const [c, s] of Object.entries<any>(r.submit[system].byConcurrency)) {
          expect(s.rps, `${system} c=${c}`).to.be.above(0);
          expect(s.failed, `${system} c=${c}`).to.equal(0);
        }
      }
      expect(r.bulk.messagesPerS).to.be.above(0);
      const runs = Object.entries<any>(r.e2e).flatMap(([system, e]) => e.attempts.map((a: any) => ({ system, ...a })));
      // Ours, and the stack's ceilings (bench/bare-gateway.js, without and with a database) whose rates ours is printed against.
      expect(runs.map((a) => a.system)).to.include.members(['ours', 'bare', 'bareDurable']);
      for (const a of runs) {
        expect(a.accepted, a.system).to.be.above(0);
        expect(a.missingStatus, `${a.system}: accepted messages without a status callback`).to.equal(0);
        expect(a.missingDlr, `${a.system}: accepted messages without a DLR callback`).to.equal(0);
        expect(a.badSignatures, a.system).to.equal(0);
      }
      for (const system of ['ours', 'bare', 'bareDurable']) expect(runs.filter((a) => a.system === system).every((a) => a.verifiedSignatures > 0), system).to.equal(true);
      // The durable gateway wrote every message it accepted, and took each through to both callbacks recorded.
      const stored = r.e2e.bareDurable.store;
      const accepted = runs.filter((a) => a.system === 'bareDurable').reduce((n, a) => n + a.accepted, 0);
      expect(stored.messages, JSON.stringify(stored)).to.be.at.least(accepted);
      expect(stored.rounds, JSON.stringify(stored)).to.be.above(0);
      for (const k of ['delivered', 'statusCallbacks', 'dlrCallbacks']) expect(stored[k], `${k}: ${JSON.stringify(stored)}`).to.equal(stored.messages);
      if (r.skipped.kannel) console.log(`    Kannel skipped: ${r.skipped.kannel}`);
      else expect(runs.map((a) => a.system)).to.include('kannel');
      // The two clients alone: each measured, every round.
      for (const key of ['connector', 'callbacks']) {
        expect(r.components[key], key).to.include.keys('usPerUnit', 'perRound', 'rounds');
        expect(r.components[key].usPerUnit, key).to.be.above(0);
        expect(r.components[key].perRound, key).to.have.length(r.components[key].rounds);
      }
      const md = fs.readFileSync(out, 'utf8');
      expect(md).to.match(/^# Benchmarks/);
      expect(md).to.match(/## Components/);
      expect(md).to.match(/## Targets/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
