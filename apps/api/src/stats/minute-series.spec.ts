import { MinuteCounts } from '@libs/persistence';
import { MINUTE_MS, hourWindowStart, minuteSeries } from './minute-series';

const at = (iso: string) => new Date(iso);
const counts = (iso: string, created: number): MinuteCounts => ({
  minute: at(iso),
  created,
  succeeded: created,
  failed: 0,
});

describe('hourWindowStart', () => {
  it.each([
    ['2026-01-01T12:30:45.123Z', '2026-01-01T11:31:00.000Z'],
    ['2026-01-01T12:30:00.000Z', '2026-01-01T11:31:00.000Z'],
    ['2026-01-01T00:00:59.999Z', '2025-12-31T23:01:00.000Z'],
  ])('at %s starts at %s, so the hour holds 60 minutes including the current one', (now, start) => {
    expect(hourWindowStart(at(now)).toISOString()).toBe(start);
  });
});

describe('minuteSeries', () => {
  const now = at('2026-01-01T12:30:45Z');
  const from = hourWindowStart(now);

  it('has one entry per minute, oldest first, zeros where nothing happened', () => {
    const series = minuteSeries([], from, now);
    expect(series).toHaveLength(60);
    expect(series[0].minute).toEqual(from);
    expect(series[59].minute).toEqual(at('2026-01-01T12:30:00Z'));
    expect(
      series.every((entry, i) => entry.minute.getTime() === from.getTime() + i * MINUTE_MS),
    ).toBe(true);
    expect(series.every((entry) => entry.created === 0)).toBe(true);
  });

  it('puts the counts of the database at their minute', () => {
    const series = minuteSeries(
      [counts('2026-01-01T11:31:00Z', 3), counts('2026-01-01T12:30:00Z', 7)],
      from,
      now,
    );
    expect(series[0].created).toBe(3);
    expect(series[59].created).toBe(7);
    expect(series.reduce((sum, entry) => sum + entry.created, 0)).toBe(10);
  });
});
