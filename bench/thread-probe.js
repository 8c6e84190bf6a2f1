'use strict';
/**
 * What crosses between the platform's threads, loaded with node's --require (worker threads inherit it):
 *   BENCH_NODE_ARGS="--require ./bench/thread-probe.js" THREAD_PROBE_DIR=/tmp/xprobe npm run bench -- --only=e2e
 * In every thread it counts each postMessage by kind (the message's `t`, and its batcher member;
 * plain arrays, the callback thread's batches, as `array`), with the items it carried and its size
 * as the structured clone serializes it, and writes the totals to
 * <THREAD_PROBE_DIR>/threads-<pid>-<thread>.json every THREAD_PROBE_EVERY_MS (5,000) and at exit.
 *   node bench/thread-probe.js <dir> [messages]   prints the totals, per message when given a count.
 * Diagnostics only: serializing each message a second time costs the probed thread CPU.
 */
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');
const wt = require('node:worker_threads');

/** How many items a message carries: the length of its batch, or 1. */
function itemsOf(m) {
  if (Array.isArray(m)) return m.length;
  for (const k of ['items', 'jobs', 'results', 'receipts', 'acks']) if (m && Array.isArray(m[k])) return m[k].length;
  return 1;
}

function kindOf(m) {
  if (Array.isArray(m)) return 'array';
  if (m && typeof m === 'object' && typeof m.t === 'string') return m.member ? `${m.t}:${m.member}` : m.t;
  return typeof m;
}

function install() {
  const dir = process.env.THREAD_PROBE_DIR || require('node:os').tmpdir();
  const everyMs = Number(process.env.THREAD_PROBE_EVERY_MS) || 5000;
  const stats = new Map();
  const proto = wt.MessagePort.prototype;
  const post = proto.postMessage;
  proto.postMessage = function probedPostMessage(message) {
    const kind = kindOf(message);
    let s = stats.get(kind);
    if (!s) stats.set(kind, (s = { calls: 0, items: 0, bytes: 0 }));
    s.calls++;
    s.items += itemsOf(message);
    try {
      s.bytes += v8.serialize(message).length;
    } catch {
      // not cloneable: postMessage itself will say so
    }
    return post.apply(this, arguments);
  };
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `threads-${process.pid}-${wt.threadId}.json`);
  const write = () => fs.writeFileSync(file, JSON.stringify({ pid: process.pid, thread: wt.threadId, t: Date.now(), kinds: Object.fromEntries(stats) }));
  setInterval(write, everyMs).unref();
  process.on('exit', write);
}

function summary(dir, messages) {
  const files = fs.readdirSync(dir).filter((f) => /^threads-\d+-\d+\.json$/.test(f)).sort();
  for (const f of files) {
    const snap = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    console.log(`pid ${snap.pid} thread ${snap.thread}${snap.thread === 0 ? ' (main)' : ''}`);
    for (const [kind, s] of Object.entries(snap.kinds).sort((a, b) => b[1].bytes - a[1].bytes)) {
      const per = messages ? `  ${(s.bytes / messages).toFixed(0).padStart(6)} B/msg` : '';
      console.log(`  ${kind.padEnd(16)} ${String(s.calls).padStart(8)} posts ${String(s.items).padStart(9)} items ${(s.bytes / Math.max(1, s.items)).toFixed(0).padStart(6)} B/item${per}`);
    }
  }
}

if (require.main === module) {
  const [dir, messages] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: node bench/thread-probe.js <dir> [messages]');
    process.exit(2);
  }
  summary(dir, Number(messages) || 0);
} else install();
