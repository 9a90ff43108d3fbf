import { MinuteCounts } from '@libs/persistence';

export const MINUTE_MS = 60_000;

/**
 * Every minute from `from` (a minute boundary) up to and including the minute of `now`,
 * oldest first, with the counts the database had for it and zeros elsewhere: a chart of a
 * quiet hour shows a flat line rather than a few dots joined across the gaps.
 */
export function minuteSeries(counts: MinuteCounts[], from: Date, now: Date): MinuteCounts[] {
  const byMinute = new Map(counts.map((entry) => [entry.minute.getTime(), entry]));
  const series: MinuteCounts[] = [];
  for (let minute = from.getTime(); minute <= now.getTime(); minute += MINUTE_MS) {
    series.push(
      byMinute.get(minute) ?? { minute: new Date(minute), created: 0, succeeded: 0, failed: 0 },
    );
  }
  return series;
}

/** The start of the minute an hour before `now`. */
export function hourWindowStart(now: Date): Date {
  return new Date(Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS - 59 * MINUTE_MS);
}
