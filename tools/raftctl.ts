import * as http from 'node:http';
import type { ClusterStatus } from '@raft-cqrs/raft-cluster';

/**
 * raftctl: talks to the cluster endpoints of any node.
 *   raftctl status|members|add <id> <url>|remove <id>|transfer [to]|watch   [--url http://host:port] [--token T]
 * Membership and transfer (and reads, on a cluster with protectReads) need the admin token: --token, else
 * RAFT_ADMIN_TOKEN, else CLUSTER_SECRET (the module's default token). It is sent as a bearer token only.
 */
type Status = ClusterStatus;

/** The admin token, set once from the command line or the environment. */
let adminToken: string | undefined;

function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      new URL(path, base),
      {
        method,
        timeout: 3000,
        headers: {
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(adminToken !== undefined ? { authorization: `Bearer ${adminToken}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${base} within 3s`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}

async function status(base: string): Promise<Status> {
  const r = await call(base, 'GET', '/cluster/status');
  if (r.status !== 200) throw new Error(`${base}/cluster/status answered ${r.status}: ${r.body}`);
  return JSON.parse(r.body) as Status;
}

async function watchTable(base: string): Promise<string> {
  const first = await status(base);
  const rows = [['member', 'role', 'term', 'leader', 'commit', 'applied', 'last', 'snapshot', 'url']];
  for (const m of first.members) {
    try {
      if (m.url === null) throw new Error('no url');
      const s = m.id === first.memberId ? first : await status(m.url);
      rows.push([s.memberId, s.role, String(s.term), s.leaderId ?? '-', String(s.commitIndex), String(s.lastApplied), String(s.lastLogIndex), String(s.snapshotIndex), m.url]);
    } catch {
      rows.push([m.id, 'unreachable', '-', '-', '-', '-', '-', '-', m.url ?? '-']);
    }
  }
  return table(rows);
}

async function main(argv: string[]): Promise<number> {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    argv.splice(i, 2);
    return v;
  };
  const base = opt('url') ?? process.env.RAFT_URL ?? 'http://127.0.0.1:3001';
  adminToken = [opt('token'), process.env.RAFT_ADMIN_TOKEN, process.env.CLUSTER_SECRET].find((t) => t !== undefined && t !== '');
  const [cmd, ...args] = argv;
  const print = (r: { status: number; body: string }): number => {
    console.log(r.body === '' ? `HTTP ${r.status}` : r.body);
    return r.status < 300 ? 0 : 1;
  };
  switch (cmd) {
    case 'status':
      console.log(JSON.stringify(await status(base), null, 2));
      return 0;
    case 'members': {
      const s = await status(base);
      const rows = [['id', 'voter', 'reachable', 'match', 'lastContactMs', 'url']];
      for (const m of s.members) rows.push([m.id + (m.id === s.leaderId ? ' *' : ''), String(m.voter), String(m.reachable), String(m.matchIndex ?? '-'), String(m.lastContactMs ?? '-'), m.url ?? '-']);
      console.log(table(rows));
      return 0;
    }
    case 'add':
      if (args.length < 2) break;
      return print(await call(base, 'POST', '/cluster/members', { id: args[0], url: args[1] }));
    case 'remove':
      if (args.length < 1) break;
      return print(await call(base, 'DELETE', `/cluster/members/${encodeURIComponent(args[0])}`));
    case 'transfer':
      return print(await call(base, 'POST', '/cluster/leadership-transfer', args[0] !== undefined ? { to: args[0] } : {}));
    case 'watch': {
      const once = argv.includes('--once');
      for (;;) {
        let out: string;
        try {
          out = await watchTable(base);
        } catch (err) {
          out = `cannot reach ${base}: ${(err as Error).message}`;
        }
        if (once) {
          console.log(out);
          return 0;
        }
        process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}  ${base}\n\n${out}\n`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  console.error('usage: raftctl status | members | add <id> <url> | remove <id> | transfer [to] | watch [--once]   [--url http://host:port] [--token T]   (token: --token, RAFT_ADMIN_TOKEN or CLUSTER_SECRET)');
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`raftctl: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
