#!/usr/bin/env node
'use strict';
// Plain CommonJS that loads the compiled CLI: a TypeScript loader would slow every call down.
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '../../dist/control-plane/src/cli');
const entry = path.join(dist, 'trunkctl.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('trunkctl: the CLI is not built yet; run npm run build\n');
  process.exit(2);
}
const args = process.argv.slice(2);
// exitCode rather than exit(): `serve` must keep running, and piped stdout must drain first.
const done = (code) => {
  process.exitCode = code;
};
if (args.length === 2 && args[0] === 'reconcile' && (args[1] === 'apply' || args[1] === 'destroy')) {
  // The provisioners' command, run once per resource of a stack on every deploy: straight to the
  // step (same code and errors as through the parser) without loading commander and the other commands.
  require(path.join(dist, 'reconcile.js')).runReconcileStep(args[1]).then(done);
} else if (args.length === 4 && args[0] === 'reconcile' && args[1] === 'serve-queue') {
  // Started by trunkctl-reconcile.sh: the process that runs the queued steps of one terraform apply.
  const io = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  require(path.join(dist, 'reconcile-queue.js'))
    .serveQueue(args[2], args[3], io)
    .then(done, (err) => {
      process.stderr.write(`trunkctl: reconcile queue: ${err && err.message}\n`);
      done(1);
    });
} else {
  require(entry).run(process.argv).then(done);
}
