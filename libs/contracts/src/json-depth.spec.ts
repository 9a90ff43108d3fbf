import { MAX_JSON_DEPTH, exceedsJsonDepth } from './json-depth';

/** `levels` objects nested in one another, built without recursion. */
function nested(levels: number, wrap: (inner: unknown) => unknown): unknown {
  let value: unknown = 1;
  for (let level = 0; level < levels; level += 1) value = wrap(value);
  return value;
}

describe('exceedsJsonDepth', () => {
  it.each<[string, unknown, number, boolean]>([
    ['a scalar', 'text', 1, false],
    ['null', null, 1, false],
    ['a flat object at the limit', { a: 1, b: 'x' }, 1, false],
    ['an object one level too deep', { a: { b: 1 } }, 1, true],
    ['arrays count as levels', [[1]], 1, true],
    ['mixed nesting at the limit', { a: [{ b: 1 }] }, 3, false],
    ['mixed nesting past the limit', { a: [{ b: [] }] }, 3, true],
    ['a deep branch beside shallow ones', { x: 1, y: { z: { w: {} } } }, 3, true],
  ])('%s', (_label, value, maxDepth, expected) => {
    expect(exceedsJsonDepth(value, maxDepth)).toBe(expected);
  });

  it('accepts the default limit exactly and refuses one level more', () => {
    expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH, (inner) => ({ a: inner })))).toBe(false);
    expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH + 1, (inner) => ({ a: inner })))).toBe(true);
  });

  it('walks a value 100,000 levels deep without overflowing the stack', () => {
    expect(exceedsJsonDepth(nested(100_000, (inner) => [inner]))).toBe(true);
  });
});
