import { microsecondsPastMillisecond } from './replay-webhook.use-case';

describe('microsecondsPastMillisecond', () => {
  it.each([
    ['2025-01-01T12:00:00Z', 0],
    ['2025-01-01T12:00:00.5Z', 0],
    ['2025-01-01T12:00:00.123Z', 0],
    ['2025-01-01T12:00:00.1234Z', 400],
    ['2025-01-01T12:00:00.123456Z', 456],
    ['2025-01-01T12:00:00.123456789+02:00', 456],
    ['2025-01-01T12:00:00.000001Z', 1],
  ])('%s has %i microseconds past its millisecond', (time, micros) => {
    expect(microsecondsPastMillisecond(time)).toBe(micros);
  });
});
