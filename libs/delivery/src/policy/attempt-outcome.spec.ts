import type { WebhookResponse } from '../http/webhook-http-client';
import { classifyResponse } from './attempt-outcome';
import { AttemptOutcome } from './retry-policy';

const now = new Date('2026-01-01T00:00:00Z');

function response(
  statusCode: number | null,
  { retryAfter, blocked = false }: { retryAfter?: string; blocked?: boolean } = {},
): WebhookResponse {
  return {
    startedAt: now,
    durationMs: 10,
    statusCode,
    responseBody: null,
    retryAfter,
    error: statusCode === null ? 'timeout: no answer within 2000 ms' : null,
    blocked,
  };
}

describe('classifyResponse', () => {
  it.each<[string, WebhookResponse, AttemptOutcome]>([
    ['200', response(200), { kind: 'success' }],
    ['204', response(204), { kind: 'success' }],
    ['410', response(410), { kind: 'gone' }],
    ['429 with Retry-After', response(429, { retryAfter: '30' }), throttled(30_000)],
    ['503 with Retry-After', response(503, { retryAfter: '2' }), throttled(2_000)],
    ['429 without Retry-After', response(429), throttled(undefined)],
    [
      '503 with an unreadable Retry-After',
      response(503, { retryAfter: 'soon' }),
      throttled(undefined),
    ],
    [
      '500 with Retry-After (not a throttle)',
      response(500, { retryAfter: '30' }),
      { kind: 'retryable' },
    ],
    ['301', response(301), { kind: 'retryable' }],
    ['no answer', response(null), { kind: 'retryable' }],
    ['a blocked address', response(null, { blocked: true }), { kind: 'permanent' }],
  ])('%s', (_label, input, expected) => {
    expect(classifyResponse(input, now)).toEqual(expected);
  });
});

function throttled(retryAfterMs: number | undefined): AttemptOutcome {
  return { kind: 'throttled', retryAfterMs };
}
