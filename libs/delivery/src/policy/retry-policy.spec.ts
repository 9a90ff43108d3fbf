import {
  AttemptOutcome,
  nextStep,
  nextStepAfterManualAttempt,
  parseRetryAfter,
} from './retry-policy';

const schedule = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];
const now = new Date('2026-01-01T00:00:00Z');
const noJitter = () => 0.5; // (0.5 * 2 - 1) * 20 % = 0
const secondsUntil = (date: Date) => (date.getTime() - now.getTime()) / 1000;
const throttled = (retryAfterMs?: number): AttemptOutcome => ({ kind: 'throttled', retryAfterMs });

describe('nextStep', () => {
  it.each<[string, AttemptOutcome, number, string]>([
    ['2xx', { kind: 'success' }, 1, 'succeeded'],
    ['410', { kind: 'gone' }, 1, 'discarded'],
    ['blocked address', { kind: 'permanent' }, 1, 'failed'],
    ['a failure with attempts left', { kind: 'retryable' }, 3, 'retrying'],
    ['a failure on the last attempt', { kind: 'retryable' }, 8, 'failed'],
  ])('%s ends as %s', (_label, outcome, attemptNumber, expected) => {
    expect(nextStep({ outcome, attemptNumber, scheduleSeconds: schedule, now }).status).toBe(
      expected,
    );
  });

  it.each([
    [1, 5],
    [2, 300],
    [3, 1800],
    [4, 7200],
    [5, 18000],
    [6, 36000],
    [7, 36000],
  ])('after attempt %i waits %i s (the Svix schedule)', (attemptNumber, seconds) => {
    const step = nextStep({
      outcome: { kind: 'retryable' },
      attemptNumber,
      scheduleSeconds: schedule,
      now,
      random: noJitter,
    });
    expect(step.status === 'retrying' && secondsUntil(step.nextAttemptAt)).toBe(seconds);
  });

  it.each([
    [0, 240],
    [0.999999, 360],
  ])('jitters within ±20 %% (random %f gives %i s for a 300 s gap)', (random, seconds) => {
    const step = nextStep({
      outcome: { kind: 'retryable' },
      attemptNumber: 2,
      scheduleSeconds: schedule,
      now,
      random: () => random,
    });
    expect(step.status === 'retrying' && Math.round(secondsUntil(step.nextAttemptAt))).toBe(
      seconds,
    );
  });

  it.each<[string, number, AttemptOutcome, readonly number[]]>([
    ['a Retry-After longer than the schedule', 60, throttled(60_000), schedule],
    ['a Retry-After shorter than the schedule', 5, throttled(1_000), schedule],
    ['a Retry-After beyond a day, capped', 24 * 3600, throttled(10 * 24 * 3600 * 1000), schedule],
    ['a Retry-After of 0 on a zero schedule, floored', 1, throttled(0), [0, 0, 0]],
    ['429 / 503 without Retry-After on a zero schedule, floored', 1, throttled(), [0, 0, 0]],
    ['429 / 503 without Retry-After, the schedule when longer', 5, throttled(), schedule],
    ['another failure on a zero schedule, at once', 0, { kind: 'retryable' }, [0, 0, 0]],
  ])('%s: waits %i s', (_label, seconds, outcome, scheduleSeconds) => {
    const step = nextStep({ outcome, attemptNumber: 1, scheduleSeconds, now, random: noJitter });
    expect(step.status === 'retrying' && secondsUntil(step.nextAttemptAt)).toBe(seconds);
  });
});

describe('parseRetryAfter', () => {
  it.each<[string | undefined, number | undefined]>([
    ['120', 120_000],
    [' 7 ', 7_000],
    ['Thu, 01 Jan 2026 00:01:00 GMT', 60_000],
    ['Wed, 31 Dec 2025 23:00:00 GMT', 0],
    ['soon', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j is %j ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

describe('nextStepAfterManualAttempt', () => {
  const due = new Date('2026-01-01T01:00:00Z');
  it.each<[string, AttemptOutcome, { status: string; nextAttemptAt: Date | null }, object]>([
    [
      'success',
      { kind: 'success' },
      { status: 'retrying', nextAttemptAt: due },
      { status: 'succeeded' },
    ],
    ['410', { kind: 'gone' }, { status: 'failed', nextAttemptAt: null }, { status: 'discarded' }],
    [
      'a failure while retrying keeps the schedule',
      { kind: 'retryable' },
      { status: 'retrying', nextAttemptAt: due },
      { status: 'retrying', nextAttemptAt: due },
    ],
    [
      'a failure before the first attempt keeps it pending',
      { kind: 'retryable' },
      { status: 'pending', nextAttemptAt: now },
      { status: 'pending', nextAttemptAt: now },
    ],
    [
      'a failure before a first attempt its lane skipped hands it to the scheduler',
      { kind: 'retryable' },
      { status: 'pending', nextAttemptAt: null },
      { status: 'pending', nextAttemptAt: now },
    ],
    [
      'a failure of a replayed success',
      { kind: 'retryable' },
      { status: 'succeeded', nextAttemptAt: null },
      { status: 'failed' },
    ],
    [
      'a blocked replay of a failed delivery',
      { kind: 'permanent' },
      { status: 'failed', nextAttemptAt: null },
      { status: 'failed' },
    ],
  ])('%s', (_label, outcome, previous, expected) => {
    expect(nextStepAfterManualAttempt(outcome, previous, now)).toMatchObject(expected);
  });
});
