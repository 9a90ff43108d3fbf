/**
 * How deeply objects and arrays may nest in an event. Validation (class-transformer and
 * class-validator) recurses once per level, so a body a few kilobytes long but thousands of
 * levels deep would overflow the stack; real events stay far below this.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * True when `value` nests objects or arrays deeper than `maxDepth` levels (the top-level
 * object is level 1). Iterative, so it cannot overflow the stack itself however deep the
 * value is, and it stops at the first branch that is too deep.
 */
export function exceedsJsonDepth(value: unknown, maxDepth = MAX_JSON_DEPTH): boolean {
  const pending: { node: unknown; depth: number }[] = [{ node: value, depth: 1 }];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const { node, depth } = item;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > maxDepth) return true;
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null)
        pending.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}
