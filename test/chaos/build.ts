/**
 * Compiles the libraries and sample apps to JavaScript once per chaos run (with @swc/core, the same
 * transform Jest uses), so that a node restarted by the nemesis boots in a second or two instead of
 * compiling every TypeScript file again through @swc-node/register (10-20 s on a busy 2-core
 * machine, which would be charged to the product as unavailability and slows the other nodes down).
 *
 * Layout of the output folder: each package as npm installs it (libs/<pkg>/package.json, dist/, ui/)
 * with node_modules/@raft-cqrs/<pkg> linked to it, so its exports map resolves as in a user's app;
 * apps/<app>/src as .js beside its public/; third-party packages resolve through NODE_PATH (the
 * repository's node_modules).
 */
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { transformFileSync } from '@swc/core';

const ROOT = path.resolve(__dirname, '../..');

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (['node_modules', 'test', 'public', 'dist'].includes(e.name)) continue;
      sources(p, out);
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

export interface Build {
  dir: string;
  /** The compiled entry of an app, e.g. apps/order/src/main.js. */
  entry(app: 'order' | 'chat'): string;
  nodePath: string;
  ms: number;
}

export function buildApps(outDir: string): Build {
  const started = Date.now();
  rmSync(outDir, { recursive: true, force: true });
  const files = [...sources(path.join(ROOT, 'libs')), ...sources(path.join(ROOT, 'apps'))];
  for (const file of files) {
    // A package's src/ compiles to its dist/, where its package.json points.
    const rel = path.relative(ROOT, file).replace(/^libs\/([^/]+)\/src\//, 'libs/$1/dist/');
    const { code } = transformFileSync(file, {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
        keepClassNames: true,
      },
      module: { type: 'commonjs' },
      sourceMaps: false,
      swcrc: false,
      configFile: false,
    });
    const target = path.join(outDir, rel.replace(/\.ts$/, '.js'));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, code);
  }
  for (const app of ['order', 'chat']) {
    const pub = path.join(ROOT, 'apps', app, 'public');
    if (existsSync(pub)) cpSync(pub, path.join(outDir, 'apps', app, 'public'), { recursive: true });
  }
  cpSync(path.join(ROOT, 'libs', 'raft-cluster', 'ui'), path.join(outDir, 'libs', 'raft-cluster', 'ui'), { recursive: true });
  const scope = path.join(outDir, 'node_modules', '@raft-cqrs');
  mkdirSync(scope, { recursive: true });
  for (const pkg of ['raft', 'raft-cluster']) {
    cpSync(path.join(ROOT, 'libs', pkg, 'package.json'), path.join(outDir, 'libs', pkg, 'package.json'));
    symlinkSync(path.join(outDir, 'libs', pkg), path.join(scope, pkg), 'dir');
  }
  return {
    dir: outDir,
    entry: (app) => path.join(outDir, 'apps', app, 'src', 'main.js'),
    nodePath: path.join(ROOT, 'node_modules'),
    ms: Date.now() - started,
  };
}
