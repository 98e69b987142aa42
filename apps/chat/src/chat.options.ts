import * as path from 'node:path';

/** Tuning of the chat app; read from the environment by {@link chatEnv}. */
export interface ChatOptions {
  /**
   * Most messages kept in the replicated message log; the oldest are evicted first. Part of the
   * replicated state's behaviour: every node of a cluster must use the same value, or their logs
   * (and state digests) diverge.
   */
  maxMessages: number;
  /** Most bytes of messages kept (same rule as `maxMessages`; whichever bound is hit first evicts). */
  maxLogBytes: number;
  /** Socket write buffer of one stream beyond which it gets no more events until it drains. */
  streamBufferBytes: number;
  /** Interval of the `: ping` comment on idle streams; a stream that has not drained for a whole interval is closed. */
  heartbeatMs: number;
  /** Concurrent event streams one node serves; beyond it a new stream is answered 503. */
  maxStreamClients: number;
  /** Folder served at `/` (the web page); null serves none. */
  publicDir: string | null;
  /** Where this node writes its transcript of `general` (an every-node event processor); null: none. */
  transcriptDir: string | null;
}

export const CHAT_OPTIONS = Symbol('CHAT_OPTIONS');

export const DEFAULT_CHAT_OPTIONS: ChatOptions = {
  maxMessages: 100_000,
  maxLogBytes: 256 * 1024 * 1024,
  streamBufferBytes: 1024 * 1024,
  heartbeatMs: 15_000,
  maxStreamClients: 1000,
  publicDir: path.resolve(__dirname, '../public'),
  transcriptDir: null,
};

function positiveInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`environment variable ${name} must be a positive integer, got "${raw}"`);
  return n;
}

function transcriptDir(env: NodeJS.ProcessEnv): string | null {
  const on = env.CHAT_TRANSCRIPT;
  if (on === undefined || on === '' || on === '0') return null;
  if (on !== '1') throw new Error(`environment variable CHAT_TRANSCRIPT must be 1 or 0, got "${on}"`);
  if (env.DATA_DIR === undefined || env.DATA_DIR === '') throw new Error('CHAT_TRANSCRIPT=1 needs DATA_DIR (the transcript is written under it)');
  return path.resolve(env.DATA_DIR, 'transcript');
}

/**
 * `CHAT_MAX_MESSAGES`, `CHAT_MAX_LOG_BYTES`, `CHAT_STREAM_BUFFER_BYTES`, `CHAT_HEARTBEAT_MS`,
 * `CHAT_MAX_STREAMS`, `CHAT_PUBLIC_DIR`, `CHAT_TRANSCRIPT=1` (a transcript under `DATA_DIR/transcript`) over
 * {@link DEFAULT_CHAT_OPTIONS}.
 */
export function chatEnv(env: NodeJS.ProcessEnv = process.env): ChatOptions {
  const d = DEFAULT_CHAT_OPTIONS;
  return {
    maxMessages: positiveInt(env, 'CHAT_MAX_MESSAGES') ?? d.maxMessages,
    maxLogBytes: positiveInt(env, 'CHAT_MAX_LOG_BYTES') ?? d.maxLogBytes,
    streamBufferBytes: positiveInt(env, 'CHAT_STREAM_BUFFER_BYTES') ?? d.streamBufferBytes,
    heartbeatMs: positiveInt(env, 'CHAT_HEARTBEAT_MS') ?? d.heartbeatMs,
    maxStreamClients: positiveInt(env, 'CHAT_MAX_STREAMS') ?? d.maxStreamClients,
    publicDir: env.CHAT_PUBLIC_DIR !== undefined && env.CHAT_PUBLIC_DIR !== '' ? path.resolve(env.CHAT_PUBLIC_DIR) : d.publicDir,
    transcriptDir: transcriptDir(env),
  };
}
