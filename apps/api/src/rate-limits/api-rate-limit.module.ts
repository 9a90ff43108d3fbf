import { ExecutionContext, Module } from '@nestjs/common';
import { ThrottlerModule, ThrottlerModuleOptions } from '@nestjs/throttler';
import { AppConfig } from '@libs/config';
import type { AuthenticatedRequest, Principal } from '../auth/principal';
import { ThrottleWindow, rateLimitOf, throttleWindowOf, trackerOf } from './api-rate-limit';

/**
 * Per-key request budgets on /v1 (API_RATE_LIMIT_PER_S, ADMIN_API_RATE_LIMIT_PER_S), counted
 * in this process's memory: with N api replicas a key may reach N times its limit.
 * ApiRateLimitGuard applies them, after ApiKeyGuard, on every V1Controller.
 */
@Module({
  imports: [ThrottlerModule.forRootAsync({ inject: [AppConfig], useFactory: apiThrottlerOptions })],
})
export class ApiRateLimitModule {}

export function apiThrottlerOptions(config: AppConfig): ThrottlerModuleOptions {
  const limits = config.http.rateLimits;
  const windowOf = (context: ExecutionContext): ThrottleWindow => {
    const rate = rateLimitOf(principalOf(context), limits);
    // skipIf has already let every unlimited caller through.
    if (rate === undefined) throw new Error('No rate limit applies to this caller');
    return throttleWindowOf(rate);
  };
  return {
    throttlers: [
      {
        limit: (context) => windowOf(context).limit,
        ttl: (context) => windowOf(context).ttlMs,
        // 0: a sliding window without a penalty, so a key is back as soon as a request expires.
        blockDuration: 0,
      },
    ],
    skipIf: (context) => rateLimitOf(principalOf(context), limits) === undefined,
    getTracker: (request: AuthenticatedRequest) => trackerOf(requiredPrincipal(request)),
    // One budget per key across every route (the library's default is one per route).
    generateKey: (_context, tracker, throttler) => `${throttler}:${tracker}`,
  };
}

function principalOf(context: ExecutionContext): Principal {
  return requiredPrincipal(context.switchToHttp().getRequest<AuthenticatedRequest>());
}

function requiredPrincipal(request: AuthenticatedRequest): Principal {
  if (!request.principal) throw new Error('ApiRateLimitGuard used on a route without ApiKeyGuard');
  return request.principal;
}
