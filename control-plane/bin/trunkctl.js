#!/usr/bin/env node
'use strict';
// Plain CommonJS that loads the compiled CLI: a TypeScript loader would slow every call down.
const fs = require('node:fs');
const path = require('node:path');

const entry = path.join(__dirname, '../../dist/control-plane/src/cli/trunkctl.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('trunkctl: the CLI is not built yet; run npm run build\n');
  process.exit(2);
}
// exitCode rather than exit(): `serve` must keep running, and piped stdout must drain first.
require(entry)
  .run(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
