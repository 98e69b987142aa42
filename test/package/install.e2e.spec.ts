import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ProcessCluster, request, waitFor } from '../support/process-cluster';

/**
 * The packages as a user gets them: `npm pack` of both workspaces, installed with their peers into a
 * fresh Nest 11 app in a temporary folder outside the repository (no links into our tree, no
 * NODE_PATH, no --legacy-peer-deps), compiled by that app's own tsc with the tsconfig `nest new`
 * writes, then three nodes of it with plain `node`. Also `npm run build` here, then the compiled
 * order app started with the SPEC's environment.
 */
jest.setTimeout(600_000);

const ROOT = path.resolve(__dirname, '../..');
const APP_TEMPLATE = path.join(__dirname, 'app');
const SECRET = 'package-install-test-secret-0123456789';
const run = promisify(execFile);

/** The environment without npm's lifecycle variables, so a child npm sees only its own folder. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env: cleanEnv(), maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** The version of a package this repository tests with, so the app installs the same (from npm's cache). */
function testedVersion(pkg: string): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

interface PackResult {
  name: string;
  filename: string;
  files: { path: string }[];
}

interface Counter {
  name: string;
  value: number;
  index: number;
}

describe('npm run build, then the compiled order app with plain node', () => {
  let cluster: ProcessCluster | null = null;

  afterAll(async () => {
    await cluster?.stopAll();
  });

  it('starts a node that serves the API (outside the repository folder)', async () => {
    await sh('npm', ['run', 'build'], ROOT);
    const entry = path.join(ROOT, 'apps', 'order', 'dist', 'main.js');
    expect(existsSync(entry)).toBe(true);
    cluster = await ProcessCluster.create({ size: 1, entry, cwd: tmpdir(), secret: SECRET });
    cluster.startAll();
    await cluster.waitForLeader(30_000);
    const put = await request(`${cluster.url('node1')}/products/p1`, { method: 'PUT', body: { stock: 3 } });
    expect([put.status, put.json()]).toEqual([200, { id: 'p1', name: 'p1', stock: 3, reserved: 0 }]);
    const page = await request(`${cluster.url('node1')}/cluster/ui/cluster.js`);
    expect(page.status).toBe(200);
  });
});

describe('npm pack, installed into a fresh Nest 11 app', () => {
  let work = '';
  let app = '';
  let packs: PackResult[] = [];
  let cluster: ProcessCluster | null = null;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'raft-cqrs-pack-'));
    const tarballs = path.join(work, 'tarballs');
    cpSync(APP_TEMPLATE, path.join(work, 'app'), { recursive: true });
    app = path.join(work, 'app');
    await sh('mkdir', ['-p', tarballs], work);
    packs = JSON.parse(await sh('npm', ['pack', '--json', '--pack-destination', tarballs, '-w', '@raft-cqrs/raft', '-w', '@raft-cqrs/raft-cluster'], ROOT)) as PackResult[];
    const tarball = (name: string): string => `file:${path.join(tarballs, packs.find((p) => p.name === name)!.filename)}`;
    const pkg = {
      name: 'counter-app',
      version: '1.0.0',
      private: true,
      dependencies: {
        '@nestjs/common': testedVersion('@nestjs/common'),
        '@nestjs/core': testedVersion('@nestjs/core'),
        '@nestjs/cqrs': testedVersion('@nestjs/cqrs'),
        '@nestjs/platform-express': testedVersion('@nestjs/platform-express'),
        '@raft-cqrs/raft': tarball('@raft-cqrs/raft'),
        '@raft-cqrs/raft-cluster': tarball('@raft-cqrs/raft-cluster'),
        'reflect-metadata': '^0.2.2',
        rxjs: testedVersion('rxjs'),
      },
      devDependencies: { typescript: testedVersion('typescript'), '@types/node': testedVersion('@types/node') },
    };
    writeFileSync(path.join(app, 'package.json'), JSON.stringify(pkg, null, 2));
    await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], app);
    await sh(path.join(app, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], app);
  });

  afterAll(async () => {
    await cluster?.stopAll();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('packs the compiled code, the cluster view and the README, and nothing of the tests', () => {
    for (const p of packs) {
      const files = p.files.map((f) => f.path);
      expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']));
      expect(files.filter((f) => /(^|\/)test\/|\.spec\.|tsbuildinfo|^src\//.test(f))).toEqual([]);
    }
    const cluster = packs.find((p) => p.name === '@raft-cqrs/raft-cluster')!.files.map((f) => f.path);
    expect(cluster).toEqual(expect.arrayContaining(['ui/cluster.js', 'ui/style.css', 'dist/testing/index.js', 'dist/groups/index.js']));
  });

  it('installs one copy of each Nest package: the app\'s, which the library takes as peers', () => {
    const copies = (dir: string, found: string[] = []): string[] => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (!e.isDirectory()) continue;
        const p = path.join(dir, e.name);
        if (p.endsWith(path.join('@nestjs', 'core')) || p.endsWith(path.join('@nestjs', 'common'))) found.push(path.relative(app, p));
        else if (e.name === 'node_modules' || e.name.startsWith('@') || dir.endsWith('node_modules')) copies(p, found);
      }
      return found;
    };
    expect(copies(path.join(app, 'node_modules')).sort()).toEqual(['node_modules/@nestjs/common', 'node_modules/@nestjs/core']);
  });

  it("runs the handler's unit test through @raft-cqrs/raft-cluster/testing, and keeps internals out of reach", async () => {
    const out = JSON.parse(await sh(process.execPath, ['dist/self-check.js'], app)) as { second: Counter; lastIndex: number; internals: Record<string, string> };
    expect(out.second).toEqual({ name: 'a', value: 5, index: 2 });
    expect(out.lastIndex).toBe(2);
    expect(Object.values(out.internals)).toEqual(['ERR_PACKAGE_PATH_NOT_EXPORTED', 'ERR_PACKAGE_PATH_NOT_EXPORTED']);
  });

  it('runs three nodes: commands through a follower, linearizable reads elsewhere, the state survives a SIGKILL of the leader', async () => {
    cluster = await ProcessCluster.create({ size: 3, entry: path.join(app, 'dist', 'main.js'), cwd: app, secret: SECRET });
    cluster.startAll();
    const { leaderId } = await cluster.waitForLeader(30_000);
    const [viaFollower, reader] = ['node1', 'node2', 'node3'].filter((id) => id !== leaderId);
    for (let i = 1; i <= 5; i++) {
      const r = await request(`${cluster.url(viaFollower)}/counters/a/add`, { method: 'POST', body: { by: i } });
      expect(r.status).toBe(201);
    }
    const unauthorised = await request(`${cluster.url(reader)}/cluster/leadership-transfer`, { method: 'POST', body: {} });
    expect([unauthorised.status, unauthorised.json<{ error: string }>().error]).toEqual([401, 'unauthorized']);
    const read = await request(`${cluster.url(reader)}/counters/a?consistency=linearizable`);
    expect([read.status, read.json<Counter>().value]).toEqual([200, 15]);

    await cluster.kill(leaderId, 'SIGKILL');
    const survivors = [viaFollower, reader];
    const next = await cluster.waitForLeader(30_000, survivors);
    const after = await request(`${cluster.url(survivors.find((id) => id !== next.leaderId)!)}/counters/a/add`, { method: 'POST', body: { by: 100 } });
    expect([after.status, after.json<Counter>().value]).toEqual([201, 115]);

    // The killed leader restarts from its own disk and catches up.
    cluster.start(leaderId);
    const restarted = await waitFor('the restarted node to catch up', async () => {
      const r = await request(`${cluster!.url(leaderId)}/counters/a?consistency=linearizable`);
      return r.status === 200 ? r.json<Counter>() : undefined;
    }, 30_000);
    expect(restarted.value).toBe(115);
  });
});
