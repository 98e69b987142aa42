/** What was thrown or rejected, as an `Error` (a thrown string or object is wrapped). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
