import 'reflect-metadata';
import { createRaftApp, raftEnv } from '@raft-cqrs/raft-cluster';
import { chatAppModule } from './chat-app.module';
import { chatEnv } from './chat.options';
import { MAX_PAYLOAD_BYTES } from './post-message/post-message.input';

/** A chat node configured by the SPEC's environment variables (section 4) and the CHAT_* ones (chat.options.ts). */
async function main(): Promise<void> {
  const env = raftEnv();
  // A 64 KiB payload can take six times that as JSON escapes; anything larger is refused with 413.
  const app = await createRaftApp(chatAppModule(env.raft, chatEnv()), { platform: env.platform, bodyLimit: 8 * MAX_PAYLOAD_BYTES, logger: ['error', 'warn', 'log'] });
  app.enableShutdownHooks();
  await app.listen(env.port, env.host);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
