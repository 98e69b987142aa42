#!/usr/bin/env node
// Runs the compiled CLI when built (npm run build), else the TypeScript source through @swc-node/register.
const path = require('node:path');
const fs = require('node:fs');
const compiled = path.join(__dirname, '..', 'tools', 'dist', 'raftctl.js');
if (fs.existsSync(compiled)) {
  require(compiled);
} else {
  require('@swc-node/register');
  require(path.join(__dirname, '..', 'tools', 'raftctl.ts'));
}
