import { isRfc3339DateTime } from './date-time';

describe('isRfc3339DateTime', () => {
  it.each([
    ['2025-01-01T12:00:00Z', true],
    ['2025-01-01T12:00:00.123456Z', true],
    ['2025-01-01t12:00:00z', true],
    ['2025-01-01T12:00:00+02:00', true],
    ['2025-01-01T00:30:00+05:30', true],
    ['2024-02-29T12:00:00Z', true],
    ['2025-02-29T12:00:00Z', false],
    ['2025-02-30T12:00:00Z', false],
    ['2025-13-01T12:00:00Z', false],
    ['2025-01-01T12:00:00', false],
    ['2025-01-01', false],
    ['2025-W01-1', false],
    ['20250101T120000Z', false],
    ['yesterday', false],
    [42, false],
  ])('%j is valid: %s', (value, expected) => {
    expect(isRfc3339DateTime(value)).toBe(expected);
  });
});
