/** How an attempt ended, as far as the retry policy cares. */
export type AttemptOutcome =
  | { kind: 'success' }
  /** 410 Gone: the receiver asks us to stop for good. */
  | { kind: 'gone' }
  /** Worth trying again, on the schedule. */
  | { kind: 'retryable' }
  /** 429 / 503: worth trying again, not too soon; `retryAfterMs` when the receiver said how long. */
  | { kind: 'throttled'; retryAfterMs?: number }
  /** Trying again cannot help (for example a blocked destination address). */
  | { kind: 'permanent' };

export type NextStep =
  | { status: 'succeeded' }
  | { status: 'discarded'; disableWebhookReason: string }
  | { status: 'retrying'; nextAttemptAt: Date }
  | { status: 'pending'; nextAttemptAt: Date | null }
  | { status: 'failed' };

/** Where a delivery stood before a manual attempt. */
export interface PreviousState {
  status: string;
  nextAttemptAt: Date | null;
}

export interface RetryPolicyInput {
  outcome: AttemptOutcome;
  /** 1 for the first attempt. */
  attemptNumber: number;
  /** Wait before each attempt in seconds; its length is the maximum number of attempts. */
  scheduleSeconds: readonly number[];
  now: Date;
  /** A number in [0, 1), injectable so tests are deterministic. */
  random?: () => number;
}

/** Spreads retries of many deliveries that failed together (an outage) over ±20 %. */
export const JITTER = 0.2;
/** A receiver's Retry-After is honoured up to a day; longer waits fall back to the schedule. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;
/** 429 / 503 never come back sooner than this, Retry-After or not, even with a schedule of zeros. */
export const THROTTLED_FLOOR_MS = 1000;

export function nextStep({
  outcome,
  attemptNumber,
  scheduleSeconds,
  now,
  random = Math.random,
}: RetryPolicyInput): NextStep {
  switch (outcome.kind) {
    case 'success':
      return { status: 'succeeded' };
    case 'gone':
      return { status: 'discarded', disableWebhookReason: 'receiver answered 410 Gone' };
    case 'permanent':
      return { status: 'failed' };
    case 'retryable':
    case 'throttled': {
      if (attemptNumber >= scheduleSeconds.length) return { status: 'failed' };
      const scheduledMs = scheduleSeconds[attemptNumber] * 1000 * (1 + (random() * 2 - 1) * JITTER);
      const waitMs =
        outcome.kind === 'retryable'
          ? scheduledMs
          : Math.max(
              scheduledMs,
              Math.min(outcome.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS),
              THROTTLED_FLOOR_MS,
            );
      return { status: 'retrying', nextAttemptAt: new Date(now.getTime() + Math.round(waitMs)) };
    }
  }
}

/**
 * A manual attempt (retry or replay) leaves the schedule alone: success ends the delivery,
 * 410 discards it, and any other result puts a waiting delivery back where it was; a
 * finished one is then marked failed, since its last attempt failed.
 */
export function nextStepAfterManualAttempt(
  outcome: AttemptOutcome,
  previous: PreviousState,
  now: Date,
): NextStep {
  switch (outcome.kind) {
    case 'success':
      return { status: 'succeeded' };
    case 'gone':
      return { status: 'discarded', disableWebhookReason: 'receiver answered 410 Gone' };
    case 'retryable':
    case 'throttled':
    case 'permanent':
      if (previous.status === 'retrying') {
        return { status: 'retrying', nextAttemptAt: previous.nextAttemptAt ?? now };
      }
      if (previous.status === 'pending') {
        // A first attempt the manual one overtook: its lane has moved on, the scheduler makes it.
        return { status: 'pending', nextAttemptAt: previous.nextAttemptAt ?? now };
      }
      return { status: 'failed' };
  }
}

/** Retry-After as seconds or an HTTP date, in milliseconds from `now`; undefined when unreadable. */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now.getTime());
}
