/** Tuning of the v2 groups (SPEC section 4, v2); read from the environment by {@link groupsEnv}. */
export interface ChatGroupsOptions {
  /**
   * Most conversation groups (each one Raft group) a cluster holds; creating one more answers 409
   * `too_many_groups`. Part of what apply does (the check runs in the main log's apply): **the same value
   * on every node**.
   */
  maxGroups: number;
}

export const CHAT_GROUPS_OPTIONS = Symbol('CHAT_GROUPS_OPTIONS');

export const DEFAULT_CHAT_GROUPS_OPTIONS: ChatGroupsOptions = { maxGroups: 64 };

/** `CHAT_MAX_GROUPS` (1-1024) over {@link DEFAULT_CHAT_GROUPS_OPTIONS}. */
export function groupsEnv(env: NodeJS.ProcessEnv = process.env): ChatGroupsOptions {
  const raw = env.CHAT_MAX_GROUPS;
  if (raw === undefined || raw === '') return { ...DEFAULT_CHAT_GROUPS_OPTIONS };
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1 || n > 1024) throw new Error(`environment variable CHAT_MAX_GROUPS must be an integer of 1-1024, got "${raw}"`);
  return { maxGroups: n };
}
