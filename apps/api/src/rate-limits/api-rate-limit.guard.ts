import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail } from '@nestjs/throttler';
import type { FastifyReply } from 'fastify';
import { ApiError, ApiErrorCode } from '../common/api.errors';

/**
 * @nestjs/throttler's guard, counting per API key (see ApiRateLimitModule) and speaking the
 * IETF draft's fields (draft-ietf-httpapi-ratelimit-headers, the three-field form):
 * `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` on every limited answer, and
 * with them `Retry-After` on a 429. Runs after ApiKeyGuard: it needs the caller's key.
 */
@Injectable()
export class ApiRateLimitGuard extends ThrottlerGuard {
  protected override headerPrefix = 'RateLimit';

  /** The library sets only Retry-After on a 429; the quota fields say the same. */
  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const retryAfter = detail.timeToBlockExpire;
    context
      .switchToHttp()
      .getResponse<FastifyReply>()
      .header(`${this.headerPrefix}-Limit`, detail.limit)
      .header(`${this.headerPrefix}-Remaining`, 0)
      .header(`${this.headerPrefix}-Reset`, retryAfter);
    throw new ApiError(
      ApiErrorCode.RateLimited,
      `This API key may make ${detail.limit} requests in any ${detail.ttl / 1000} s: ` +
        `retry after ${retryAfter} s`,
    );
  }
}
