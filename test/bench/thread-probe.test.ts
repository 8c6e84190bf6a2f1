import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';

const ROOT = path.resolve(__dirname, '../..');

/*
 * bench/thread-probe.js, where PERFORMANCE.md's figures on what crosses between threads came from:
 * loaded with --require, it must count each thread's postMessage calls by kind, in workers too.
 */
describe('bench thread probe', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thread-probe-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('counts posts, items and bytes per kind on both sides of a worker, and prints them per message', () => {
    const main = `
      const { Worker } = require('node:worker_threads');
      const w = new Worker("const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => { parentPort.postMessage([m.items.length]); if (m.last) process.exit(0); });", { eval: true });
      w.postMessage({ t: 'b', member: 'accept', items: ['a', 'b', 'c'] });
      w.postMessage({ t: 'b', member: 'accept', items: ['d'], last: true });
      w.on('exit', () => process.exit(0));`;
    const run = spawnSync(process.execPath, ['--require', path.join(ROOT, 'bench/thread-probe.js'), '-e', main], { cwd: ROOT, env: { ...process.env, THREAD_PROBE_DIR: dir }, encoding: 'utf8' });
    expect(run.status, run.stderr).to.equal(0);
    const files = fs.readdirSync(dir).sort();
    expect(files).to.have.length(2);
    const [mainSnap, workerSnap] = files.map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
    expect(mainSnap.thread).to.equal(0);
    expect(mainSnap.kinds['b:accept']).to.include({ calls: 2, items: 4 });
    expect(mainSnap.kinds['b:accept'].bytes).to.be.above(20);
    expect(workerSnap.kinds.array).to.include({ calls: 2, items: 2 });
    const summary = spawnSync(process.execPath, [path.join(ROOT, 'bench/thread-probe.js'), dir, '4'], { encoding: 'utf8' });
    expect(summary.status, summary.stderr).to.equal(0);
    expect(summary.stdout).to.match(/thread 0 \(main\)\n\s+b:accept\s+2 posts\s+4 items\s+\d+ B\/item\s+\d+ B\/msg/);
  });
});
