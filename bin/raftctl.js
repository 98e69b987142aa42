#!/usr/bin/env node
// Runs the TypeScript source through @swc-node/register where the dev tools are installed (so it is never
// a stale build), else the compiled CLI (npm run build).
const path = require('node:path');
const fs = require('node:fs');
const source = path.join(__dirname, '..', 'tools', 'raftctl.ts');
let register = null;
try {
  register = require.resolve('@swc-node/register');
} catch {
  // production install: no dev tools
}
if (register !== null && fs.existsSync(source)) {
  require(register);
  require(source);
} else {
  require(path.join(__dirname, '..', 'tools', 'dist', 'raftctl.js'));
}
