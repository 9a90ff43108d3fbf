import type { WebhookResponse } from '../http/webhook-http-client';
import { AttemptOutcome, parseRetryAfter } from './retry-policy';

/** Sorts an attempt's result into what the retry policy decides on. */
export function classifyResponse(response: WebhookResponse, now: Date): AttemptOutcome {
  if (response.blocked) return { kind: 'permanent' };
  const status = response.statusCode;
  if (status === null) return { kind: 'retryable' };
  if (status >= 200 && status < 300) return { kind: 'success' };
  if (status === 410) return { kind: 'gone' };
  if (status === 429 || status === 503) {
    return { kind: 'throttled', retryAfterMs: parseRetryAfter(response.retryAfter, now) };
  }
  return { kind: 'retryable' };
}
