/**
 * Whether a webhook subscribed to `patterns` receives an event of `type`:
 * `*` matches everything, `user.*` every type under `user.`, anything else exactly.
 */
export function matchesEventType(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) => {
    if (pattern === '*') return true;
    if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
    return pattern === type;
  });
}

/** Subscription patterns accepted at webhook creation: `*`, `a.b`, `a.*`, `a.b.*`. */
export const EVENT_TYPE_PATTERN_SYNTAX = /^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$/;
