import type { ApiRateLimit, HttpConfig } from '@libs/config';
import type { Principal } from '../auth/principal';

/** The limit that applies to a caller; undefined: unlimited. */
export function rateLimitOf(
  principal: Principal,
  limits: HttpConfig['rateLimits'],
): ApiRateLimit | undefined {
  switch (principal.kind) {
    case 'admin':
      return limits.adminKey;
    case 'account':
      return limits.accountKey;
  }
}

/**
 * Whose budget a request spends: each account key its own (a second key of the same account
 * has a budget of its own), the admin key one for all its callers. Only keys that
 * authenticated get here, so a wrong key can never spend a real key's budget.
 */
export function trackerOf(principal: Principal): string {
  switch (principal.kind) {
    case 'admin':
      return 'admin';
    case 'account':
      return `key:${principal.keyId}`;
  }
}

export interface ThrottleWindow {
  /** Requests allowed in any window. */
  limit: number;
  ttlMs: number;
}

/**
 * A rate with a burst, as @nestjs/throttler's sliding window counts it: at most `burst`
 * requests in any `burst / perSecond` seconds. So a key may send its whole burst at once,
 * and on average no more than `perSecond` requests a second.
 */
export function throttleWindowOf(rate: ApiRateLimit): ThrottleWindow {
  return {
    limit: rate.burst,
    ttlMs: Math.max(1, Math.round((1000 * rate.burst) / rate.perSecond)),
  };
}
