import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { raftEnv } from '@raft-cqrs/raft-cluster';

/**
 * No Docker engine runs here, so docker-compose.yml and the Dockerfile are checked statically: every
 * service gets the SPEC's environment (section 4), MEMBERS names the services themselves, data lives
 * on a volume, one secret is shared, the healthcheck probes the health endpoint, and the image runs
 * the compiled entry point with the path aliases resolvable.
 */

const ROOT = path.resolve(__dirname, '../..');
const read = (f: string): string => readFileSync(path.join(ROOT, f), 'utf8');

interface Service {
  image?: string;
  build?: { context?: string; args?: Record<string, string> };
  hostname?: string;
  profiles?: string[];
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string };
  init?: boolean;
  stop_grace_period?: string;
}

interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const services = Object.entries(compose.services);

/** Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR-default}` against `vars`. */
function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (_m, name: string, op: string | undefined, def: string | undefined) => {
    const v = vars[name];
    if (op === ':-') return v === undefined || v === '' ? (def ?? '') : v;
    if (op === '-') return v === undefined ? (def ?? '') : v;
    return v ?? '';
  });
}

/** A service's environment as the container would see it, with nothing set on the host. */
function envOf(s: Service, hostVars: Record<string, string | undefined> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = interpolate(v === null ? '' : String(v), hostVars);
  return out;
}

const appOf = (s: Service): string => s.build?.args?.APP ?? '';
const isJoin = (s: Service): boolean => (s.profiles ?? []).includes('join');

function parseMembers(members: string): { id: string; url: URL }[] {
  return members.split(',').map((entry) => {
    const i = entry.indexOf('=');
    return { id: entry.slice(0, i), url: new URL(entry.slice(i + 1)) };
  });
}

describe('docker-compose.yml', () => {
  it('runs three order nodes and three chat nodes by default, and a fourth of each under the "join" profile', () => {
    const byApp = (app: string, join: boolean): string[] =>
      services
        .filter(([, s]) => appOf(s) === app && isJoin(s) === join)
        .map(([name]) => name)
        .sort();
    expect(byApp('order', false)).toEqual(['order1', 'order2', 'order3']);
    expect(byApp('chat', false)).toEqual(['chat1', 'chat2', 'chat3']);
    expect(byApp('order', true)).toEqual(['order4']);
    expect(byApp('chat', true)).toEqual(['chat4']);
    for (const [name, s] of services) {
      expect([name, s.build?.context]).toEqual([name, '.']);
      expect([name, s.image]).toEqual([name, `raft-cqrs-${appOf(s)}:local`]);
    }
  });

  it.each(services)('%s has the SPEC environment (NODE_ID, PORT, HOST, MEMBERS or JOIN, DATA_DIR, CLUSTER_SECRET)', (name, s) => {
    const env = envOf(s);
    expect(env.NODE_ID).toBe(name);
    expect(s.hostname ?? name).toBe(name);
    expect(env.PORT).toMatch(/^\d+$/);
    expect(env.HOST).toBe('0.0.0.0');
    expect(env.DATA_DIR).toMatch(/^\//);
    expect(env.CLUSTER_SECRET).not.toBe('');
    // Exactly one of MEMBERS (an initial voter) and JOIN (joins a running cluster).
    expect([name, 'MEMBERS' in env, 'JOIN' in env]).toEqual([name, !isJoin(s), isJoin(s)]);
    // The library's own parser accepts it (and says which variable is wrong if not).
    const parsed = raftEnv(env);
    expect(parsed.port).toBe(Number(env.PORT));
    expect(parsed.raft.memberId).toBe(name);
    expect(parsed.raft.dataDir).toBe(env.DATA_DIR);
    expect(parsed.raft.insecurePeers).toBe(false);
    // Empty timing variables mean the library's defaults.
    expect(parsed.raft.electionTimeout).toBeUndefined();
    expect(parsed.raft.heartbeatInterval).toBeUndefined();
    expect(raftEnv(envOf(s, { ELECTION_TIMEOUT_MS: '300-600', HEARTBEAT_MS: '60' })).raft).toMatchObject({ electionTimeout: [300, 600], heartbeatInterval: 60 });
  });

  it.each(services)('%s keeps DATA_DIR on a named volume of its own', (name, s) => {
    const dataDir = envOf(s).DATA_DIR;
    const mount = (s.volumes ?? []).map((v) => v.split(':')).find(([, target]) => target === dataDir);
    expect([name, mount]).toEqual([name, [expect.any(String), dataDir]]);
    const volume = mount![0];
    expect(compose.volumes ?? {}).toHaveProperty([volume]);
    const users = services.filter(([, o]) => (o.volumes ?? []).some((v) => v.split(':')[0] === volume)).map(([n]) => n);
    expect(users).toEqual([name]);
  });

  it('MEMBERS lists the services of its own app by hostname and port, the same on every initial node', () => {
    for (const app of ['order', 'chat']) {
      const initial = services.filter(([, s]) => appOf(s) === app && !isJoin(s));
      const lists = new Set(initial.map(([, s]) => envOf(s).MEMBERS));
      expect(lists.size).toBe(1);
      const members = parseMembers([...lists][0]);
      expect(members.map((m) => m.id).sort()).toEqual(initial.map(([n]) => n).sort());
      for (const m of members) {
        const target = compose.services[m.id];
        expect(target).toBeDefined();
        expect(m.url.protocol).toBe('http:');
        expect(m.url.hostname).toBe(target.hostname ?? m.id);
        expect(m.url.port).toBe(envOf(target).PORT);
        expect(m.url.pathname).toBe('/');
      }
    }
  });

  it('a joining node names a running member of its own app and advertises its own address', () => {
    for (const [name, s] of services.filter(([, x]) => isJoin(x))) {
      const env = envOf(s);
      const join = new URL(env.JOIN);
      const target = services.find(([n, o]) => (o.hostname ?? n) === join.hostname);
      expect(target).toBeDefined();
      const [targetName, targetService] = target!;
      expect(appOf(targetService)).toBe(appOf(s));
      expect(isJoin(targetService)).toBe(false);
      expect(join.port).toBe(envOf(targetService).PORT);
      expect(s.depends_on?.[targetName]?.condition).toBe('service_healthy');
      // Without ADVERTISE_URL the node would tell the cluster http://127.0.0.1:<port>, unreachable for the peers.
      expect(env.ADVERTISE_URL).toBe(`http://${s.hostname ?? name}:${env.PORT}`);
      expect(raftEnv(env).raft).toMatchObject({ join: env.JOIN, members: [], advertiseUrl: env.ADVERTISE_URL });
    }
  });

  it('one CLUSTER_SECRET for every node, taken from the environment with a default for local use', () => {
    const raw = new Set(services.map(([, s]) => String(s.environment?.CLUSTER_SECRET)));
    expect(raw.size).toBe(1);
    expect([...raw][0]).toMatch(/^\$\{CLUSTER_SECRET:-[^}]+\}$/);
    const fromHost = new Set(services.map(([, s]) => envOf(s, { CLUSTER_SECRET: 's3cret-from-host' }).CLUSTER_SECRET));
    expect([...fromHost]).toEqual(['s3cret-from-host']);
  });

  it.each(services)('%s has a healthcheck on /health/ready (or /health/live) at its own port', (name, s) => {
    const test = s.healthcheck?.test;
    expect(test).toBeDefined();
    const cmd = Array.isArray(test) ? test.join(' ') : String(test);
    expect(cmd).toMatch(/\/health\/(ready|live)/);
    expect(cmd).toContain(`:${envOf(s).PORT}/health/`);
    expect(s.init).toBe(true);
    expect(s.stop_grace_period).toMatch(/^\d+s$/);
  });

  it('publishes the same host ports as npm start (order 3001-3003, chat 3101-3103), each once, to the container PORT', () => {
    const published = new Map<string, string>();
    for (const [name, s] of services) {
      for (const p of s.ports ?? []) {
        const [host, container] = p.split(':');
        expect(published.has(host)).toBe(false);
        published.set(host, name);
        expect(container).toBe(envOf(s).PORT);
      }
    }
    expect(['3001', '3002', '3003'].map((p) => published.get(p))).toEqual(['order1', 'order2', 'order3']);
    expect(['3101', '3102', '3103'].map((p) => published.get(p))).toEqual(['chat1', 'chat2', 'chat3']);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)];
  const runtime = dockerfile.slice(stages.at(-1)!.index);

  it('is multi-stage, with a slim Node 20 runtime that runs as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20[-\w.]*(slim|alpine)/m);
    expect(runtime).toMatch(/^USER\s+(node|\d{3,})\s*$/m);
    expect(runtime).not.toMatch(/^USER\s+root/m);
    expect(dockerfile).toMatch(/RUN npm run build/);
    expect(runtime).toMatch(/npm ci --omit=dev|COPY --from=\S+ \/app\/node_modules/);
  });

  it('runs the compiled entry point of the app chosen by APP', () => {
    expect(runtime).toMatch(/^ARG APP=/m);
    expect(runtime).toMatch(/APP=\$\{APP\}/);
    expect(runtime).toMatch(/node apps\/\$\{?APP\}?\/dist\/main\.js/);
    // tsc -b builds each project into its own dist/: the app's entry is apps/<app>/dist/main.js.
    const app = JSON.parse(read('apps/order/tsconfig.build.json')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(app.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(read('package.json')).toContain('"build": "tsc -b tsconfig.build.json"');
  });

  it('installs the packages as npm does, through the workspace links, with no hand-made links', () => {
    expect(runtime).not.toMatch(/\bln\s+-s\b/);
    for (const pkg of ['raft', 'raft-cluster']) {
      expect(runtime).toContain(`COPY libs/${pkg}/package.json ./libs/${pkg}/`);
      expect(runtime).toContain(`/src/libs/${pkg}/dist ./libs/${pkg}/dist`);
    }
    expect(runtime).toContain('COPY libs/raft-cluster/ui ./libs/raft-cluster/ui');
  });

  it('has a healthcheck and keeps build context small', () => {
    expect(runtime).toMatch(/^HEALTHCHECK[\s\S]*\/health\/(ready|live)/m);
    const ignore = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const p of ['**/node_modules', '**/dist', 'data', '.git']) expect(ignore).toContain(p);
  });
});
