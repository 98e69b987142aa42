/**
 * `npm start` / `npm run cluster -- ...`: runs local clusters of the sample apps, one process per
 * node, configured by the SPEC's environment variables. Prints the URLs once every node is ready,
 * prefixes each node's output with app/node, and stops every node on Ctrl-C (SIGTERM, then SIGKILL
 * after a grace period).
 *
 * Run with `node -r @swc-node/register tools/cluster.ts` (no build needed).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(__dirname, '..');
const APPS = ['order', 'chat'] as const;
type AppName = (typeof APPS)[number];
const DEFAULT_BASE_PORT: Record<AppName, number> = { order: 3001, chat: 3101 };
const READY_TIMEOUT_MS = 90_000;
const GRACE_MS = 10_000;

const HELP = `Runs local Raft clusters of the sample apps, one process per node.

Usage:
  npm start                                  order app on 3001-3003 and chat app on 3101-3103
  npm run cluster -- [options]

Options:
  --app <order|chat|all>   which app(s) to run (default: all)
  --nodes <n>              nodes per app, 1-9 (default: 3)
  --base-port <port>       port of node1; node i gets base-port + i - 1. With --app all the chat
                           app starts 100 above it (default: order 3001, chat 3101)
  --host <address>         bind and advertised address (default: 127.0.0.1)
  --data-dir <dir>         storage root; node data goes to <dir>/<app>/<node> (default: ./data)
  --fresh                  delete the apps' node data before starting
  --entry <file>           run this entry file instead of apps/<app>/src/main.ts (one app only)
  -h, --help               this text

Environment:
  CLUSTER_SECRET           the shared peer secret (default: a random one for this run; never printed)
  ADMIN_TOKEN              bearer token for membership and leadership changes (default: a random one
                           for this run, written to <data-dir>/admin-token, readable by you only)
  ELECTION_TIMEOUT_MS, HEARTBEAT_MS, COMPACTION_THRESHOLD, INSECURE_PEERS
                           passed on to every node

Ctrl-C stops every node: SIGTERM (the leader hands over, storage is flushed), SIGKILL after ${GRACE_MS / 1000} s.
Press Ctrl-C twice to SIGKILL at once.

Examples:
  npm run cluster -- --app chat --nodes 5
  npm run cluster -- --app order --base-port 4000 --fresh
`;

interface NodeSpec {
  app: AppName;
  id: string;
  port: number;
  url: string;
  dataDir: string;
  entry: string;
  members: string;
}

interface Running extends NodeSpec {
  proc: ChildProcess;
  exited: boolean;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
}

class UsageError extends Error {}

interface Config {
  apps: AppName[];
  nodes: number;
  host: string;
  basePorts: Record<AppName, number>;
  dataRoot: string;
  fresh: boolean;
  entry: string | null;
}

function parseConfig(argv: string[]): Config | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        app: { type: 'string' },
        nodes: { type: 'string' },
        'base-port': { type: 'string' },
        host: { type: 'string' },
        'data-dir': { type: 'string' },
        fresh: { type: 'boolean' },
        entry: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const appArg = v.app ?? 'all';
  let apps: AppName[];
  if (appArg === 'all') apps = [...APPS];
  else if ((APPS as readonly string[]).includes(appArg)) apps = [appArg as AppName];
  else throw new UsageError(`--app must be order, chat or all, got "${appArg}"`);

  const nodes = v.nodes === undefined ? 3 : Number(v.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new UsageError(`--nodes must be an integer from 1 to 9, got "${v.nodes}"`);

  const basePorts = { ...DEFAULT_BASE_PORT };
  if (v['base-port'] !== undefined) {
    const p = Number(v['base-port']);
    if (!Number.isInteger(p) || p < 1 || p + nodes - 1 + (apps.length > 1 ? 100 : 0) > 65535) {
      throw new UsageError(`--base-port must be an integer such that every node's port fits in 1-65535, got "${v['base-port']}"`);
    }
    apps.forEach((app, i) => (basePorts[app] = p + i * 100));
  }
  if (v.entry !== undefined && apps.length !== 1) throw new UsageError('--entry needs --app order or --app chat');
  return {
    apps,
    nodes,
    host: v.host ?? '127.0.0.1',
    basePorts,
    dataRoot: path.resolve(v['data-dir'] ?? path.join(ROOT, 'data')),
    fresh: v.fresh === true,
    entry: v.entry === undefined ? null : path.resolve(v.entry),
  };
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function plan(c: Config): NodeSpec[] {
  const specs: NodeSpec[] = [];
  for (const app of c.apps) {
    const ids = Array.from({ length: c.nodes }, (_, i) => `node${i + 1}`);
    const url = (i: number): string => `http://${urlHost(c.host)}:${c.basePorts[app] + i}`;
    const members = ids.map((id, i) => `${id}=${url(i)}`).join(',');
    const entry = c.entry ?? path.join(ROOT, 'apps', app, 'src', 'main.ts');
    ids.forEach((id, i) => {
      specs.push({ app, id, port: c.basePorts[app] + i, url: url(i), dataDir: path.join(c.dataRoot, app, id), entry, members });
    });
  }
  return specs;
}

/** Null when `port` can be bound on `host`, else the reason. */
function portProblem(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(null)));
  });
}

function ready(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/health/ready`, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

const useColor = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const COLORS = [36, 35, 33, 32, 34, 91, 92, 93, 94, 95, 96];
function paint(text: string, code: number): string {
  return useColor ? `\x1b[${code}m${text}\x1b[0m` : text;
}
function say(line: string): void {
  process.stdout.write(`${paint('cluster', 1)} ${line}\n`);
}

/** Writes a child's output line by line with a prefix (a partial last line waits for its end). */
function pipeLines(stream: NodeJS.ReadableStream, prefix: string, out: NodeJS.WriteStream): () => void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) out.write(`${prefix} ${l}\n`);
  });
  return () => {
    if (rest !== '') out.write(`${prefix} ${rest}\n`);
    rest = '';
  };
}

async function main(): Promise<number> {
  let config: Config | 'help';
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`cluster: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  if (config === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const specs = plan(config);

  for (const entry of new Set(specs.map((s) => s.entry))) {
    if (!existsSync(entry)) {
      process.stderr.write(`cluster: ${path.relative(ROOT, entry) || entry} does not exist: this app has no entry point to run\n`);
      return 1;
    }
  }
  const busy: string[] = [];
  for (const s of specs) {
    const problem = await portProblem(config.host, s.port);
    if (problem !== null) busy.push(`  port ${s.port} (${s.app}/${s.id}) on ${config.host}: ${problem === 'EADDRINUSE' ? 'already in use' : problem}`);
  }
  if (busy.length > 0) {
    process.stderr.write(`cluster: cannot start, ports not available:\n${busy.join('\n')}\nStop whatever uses them (an earlier cluster?) or choose others with --base-port.\n`);
    return 1;
  }
  if (config.fresh) {
    for (const app of config.apps) rmSync(path.join(config.dataRoot, app), { recursive: true, force: true });
  }

  const secretFromEnv = process.env.CLUSTER_SECRET !== undefined && process.env.CLUSTER_SECRET !== '';
  const secret = secretFromEnv ? process.env.CLUSTER_SECRET! : randomBytes(24).toString('base64url');
  // Never the peer secret: an operator (or the page's "make leader") only needs the admin token.
  const tokenFromEnv = process.env.ADMIN_TOKEN !== undefined && process.env.ADMIN_TOKEN !== '';
  const adminToken = tokenFromEnv ? process.env.ADMIN_TOKEN! : randomBytes(18).toString('base64url');
  const tokenFile = path.join(config.dataRoot, 'admin-token');
  if (!tokenFromEnv) {
    mkdirSync(config.dataRoot, { recursive: true });
    writeFileSync(tokenFile, `${adminToken}\n`, { mode: 0o600 });
  }
  const width = Math.max(...specs.map((s) => `${s.app}/${s.id}`.length));
  const running: Running[] = [];
  let stopping = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));

  const stopAll = (why: string, code: number): void => {
    if (stopping) return;
    stopping = true;
    const alive = running.filter((r) => !r.exited);
    say(`${why}: stopping ${alive.length} node(s) (SIGTERM; SIGKILL after ${GRACE_MS / 1000} s)`);
    for (const r of alive) r.proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const r of running.filter((x) => !x.exited)) {
        say(`${r.app}/${r.id} did not stop in time: SIGKILL`);
        r.proc.kill('SIGKILL');
      }
    }, GRACE_MS);
    timer.unref();
    const check = (): void => {
      if (running.every((r) => r.exited)) {
        clearTimeout(timer);
        resolveDone(code);
      }
    };
    for (const r of running) r.proc.once('exit', check);
    check();
  };

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      process.stdout.write('\n');
      stopAll(`got ${sig}`, 0);
    } else {
      say(`got ${sig} again: SIGKILL`);
      for (const r of running.filter((x) => !x.exited)) r.proc.kill('SIGKILL');
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // Last resort (an exception here): never leave nodes behind.
  process.on('exit', () => {
    for (const r of running) if (!r.exited) r.proc.kill('SIGKILL');
  });

  say(`starting ${specs.length} node(s): ${config.apps.map((a) => `${a} on ${config.basePorts[a]}-${config.basePorts[a] + config.nodes - 1}`).join(', ')}; data under ${path.relative(process.cwd(), config.dataRoot) || '.'}/; peer secret ${secretFromEnv ? 'from CLUSTER_SECRET' : 'random for this run (set CLUSTER_SECRET to choose one)'}`);
  specs.forEach((s, i) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ID: s.id,
      PORT: String(s.port),
      HOST: config.host,
      MEMBERS: s.members,
      DATA_DIR: s.dataDir,
      CLUSTER_SECRET: secret,
      ADMIN_TOKEN: adminToken,
    };
    delete env.JOIN;
    // Its own process group: the terminal's Ctrl-C reaches only this tool, which sends each node exactly one SIGTERM
    // (a second signal during Nest's shutdown would kill the node before its leadership hand-over).
    const proc = spawn(process.execPath, ['-r', '@swc-node/register', s.entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const r: Running = { ...s, proc, exited: false, exitCode: null, exitSignal: null };
    running.push(r);
    const prefix = paint(`${`${s.app}/${s.id}`.padEnd(width)} |`, COLORS[i % COLORS.length]);
    const flushOut = pipeLines(proc.stdout!, prefix, process.stdout);
    const flushErr = pipeLines(proc.stderr!, prefix, process.stderr);
    proc.on('error', (err) => say(`${s.app}/${s.id} could not start: ${err.message}`));
    proc.on('exit', (code, signal) => {
      flushOut();
      flushErr();
      r.exited = true;
      r.exitCode = code;
      r.exitSignal = signal;
      if (stopping) {
        say(`${s.app}/${s.id} stopped${signal ? ` (${signal})` : code ? ` (exit code ${code})` : ''}`);
        return;
      }
      say(`${s.app}/${s.id} exited unexpectedly (${signal ?? `exit code ${code}`})`);
      if (running.every((x) => x.exited)) stopAll('every node exited', 1);
    });
  });

  // Wait until every node is ready (knows a leader, has applied what it knows is committed).
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const isReady = new Set<Running>();
  while (!stopping && isReady.size < running.length) {
    const failed = running.find((r) => r.exited);
    if (failed !== undefined) {
      stopAll(`${failed.app}/${failed.id} exited during start-up`, 1);
      break;
    }
    if (Date.now() > deadline) {
      const waiting = running.filter((r) => !isReady.has(r)).map((r) => `${r.app}/${r.id}`);
      say(`still not ready after ${READY_TIMEOUT_MS / 1000} s: ${waiting.join(', ')} (they keep running; see their output above)`);
      break;
    }
    await Promise.all(
      running
        .filter((r) => !isReady.has(r))
        .map(async (r) => {
          if (await ready(r.url)) isReady.add(r);
        }),
    );
    if (isReady.size < running.length) await new Promise((res) => setTimeout(res, 300));
  }
  if (!stopping && isReady.size === running.length) {
    const lines: string[] = [''];
    for (const app of config.apps) {
      lines.push(`${app}: ${config.nodes} node(s) up`);
      for (const r of running.filter((x) => x.app === app)) {
        lines.push(`  ${r.id.padEnd(7)} page ${r.url}/   status ${r.url}/cluster/status   data ${path.relative(process.cwd(), r.dataDir)}`);
      }
    }
    const token = tokenFromEnv ? 'ADMIN_TOKEN' : path.relative(process.cwd(), tokenFile);
    lines.push(
      '',
      `Admin token (membership and leadership changes, the pages' "make leader"): ${tokenFromEnv ? 'from ADMIN_TOKEN' : `in ${token}`}`,
      `Watch a cluster: npx raftctl watch --url <any node URL>; change it: RAFT_ADMIN_TOKEN=${tokenFromEnv ? '$ADMIN_TOKEN' : `$(cat ${token})`} npx raftctl transfer --url <URL>.  Ctrl-C stops every node.`,
      '',
    );
    for (const l of lines) say(l);
  }
  return done;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cluster: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
