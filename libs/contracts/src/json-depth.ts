/**
 * How deeply objects and arrays may nest in an event (its `data` included). Real payloads
 * stay within a handful of levels; a few thousand levels fit in a small body and make
 * recursive code (class-transformer, class-validator, JSON.stringify) overflow the stack,
 * so both the api and the worker refuse anything deeper before touching it.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * True when `value` nests objects or arrays more than `maxDepth` levels deep (a primitive
 * is level 0, `{}` and `[]` level 1). Walks with an explicit stack, never recursion, and
 * stops descending at `maxDepth + 1`, so its own cost is bounded by the size of the value.
 */
export function exceedsJsonDepth(value: unknown, maxDepth: number = MAX_JSON_DEPTH): boolean {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (typeof next.value !== 'object' || next.value === null) continue;
    const depth = next.depth + 1;
    if (depth > maxDepth) return true;
    const children: unknown[] = Array.isArray(next.value) ? next.value : Object.values(next.value);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) pending.push({ value: child, depth });
    }
  }
  return false;
}
