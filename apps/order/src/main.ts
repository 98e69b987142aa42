import 'reflect-metadata';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { createRaftApp, raftEnv } from '@raft-cqrs/raft-cluster';
import { orderAppModule } from './app.module';
import { notifyUrlFromEnv } from './notifications/notify-url';

/** The web page's folder, beside src/ and dist/. The app runs without it (the API needs none). */
function publicDir(): string | undefined {
  const dir = path.resolve(__dirname, '..', 'public');
  return existsSync(dir) ? dir : undefined;
}

/** One node of the order app, configured by the SPEC's environment variables (NODE_ID, PORT, MEMBERS, ..., NOTIFY_URL). */
async function main(): Promise<void> {
  const env = raftEnv();
  const app = await createRaftApp(orderAppModule(env.raft, { notifyUrl: notifyUrlFromEnv() }), { platform: env.platform, staticAssets: publicDir(), logger: ['error', 'warn', 'log'] });
  // Without the hooks SIGTERM would skip the leadership hand-over and the storage flush.
  app.enableShutdownHooks();
  await app.listen(env.port, env.host);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
