import { MAX_JSON_DEPTH, exceedsJsonDepth } from './json-depth';

/** `levels` objects nested in one another, as `{"a":{"a":...{}}}`. */
function nestedObjects(levels: number): unknown {
  let value: unknown = {};
  for (let i = 1; i < levels; i += 1) value = { a: value };
  return value;
}

function nestedArrays(levels: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < levels; i += 1) value = [1, value, 'x'];
  return value;
}

describe('exceedsJsonDepth', () => {
  it.each<[string, unknown, number, boolean]>([
    ['a number', 42, 0, false],
    ['null', null, 0, false],
    ['a string', 'deep', 0, false],
    ['an empty object at limit 1', {}, 1, false],
    ['an empty object at limit 0', {}, 0, true],
    ['an object holding an array at limit 2', { a: [1, 2] }, 2, false],
    ['an object holding an array at limit 1', { a: [1, 2] }, 1, true],
    ['the contract example', { data: { user_id: 'u', position: 42 } }, 2, false],
    ['a deep branch beside shallow ones', { a: 1, b: { c: { d: {} } }, e: [] }, 3, true],
    ['objects exactly at the limit', nestedObjects(MAX_JSON_DEPTH), MAX_JSON_DEPTH, false],
    ['objects one level over', nestedObjects(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH, true],
    ['arrays exactly at the limit', nestedArrays(MAX_JSON_DEPTH), MAX_JSON_DEPTH, false],
    ['arrays one level over', nestedArrays(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH, true],
  ])('%s: %s', (_label, value, maxDepth, expected) => {
    expect(exceedsJsonDepth(value, maxDepth)).toBe(expected);
  });

  it('uses MAX_JSON_DEPTH (64) by default', () => {
    expect(MAX_JSON_DEPTH).toBe(64);
    expect(exceedsJsonDepth(nestedObjects(64))).toBe(false);
    expect(exceedsJsonDepth(nestedObjects(65))).toBe(true);
  });

  it('answers for a hundred thousand levels without overflowing the stack', () => {
    const text = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    expect(exceedsJsonDepth(JSON.parse(text))).toBe(true);
  });

  it('terminates on a cyclic value, which is deeper than any limit', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(exceedsJsonDepth(cyclic)).toBe(true);
  });
});
