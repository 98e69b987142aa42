/** Injection token of the URL created orders are announced to (the NOTIFY_URL environment variable). */
export const NOTIFY_URL = 'ORDER_APP:NOTIFY_URL';

/** NOTIFY_URL checked at start-up: an http(s) URL, or unset (no announcements). */
export function notifyUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  const raw = env.NOTIFY_URL?.trim();
  if (raw === undefined || raw === '') return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`NOTIFY_URL must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`NOTIFY_URL must be an http(s) URL, got ${JSON.stringify(raw)}`);
  return url.toString();
}
