import { Controller, UseGuards, applyDecorators } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ApiRateLimitGuard } from '../rate-limits/api-rate-limit.guard';
import { ApiKeyGuard } from './api-key.guard';

/** Every 429 carries all four fields. */
const field = (description: string) =>
  ({ description, required: true, schema: { type: 'integer', minimum: 0 } }) as const;

/**
 * A controller under /v1: authenticated with a Bearer API key, then counted against that
 * key's rate limit (guards run in order, so a request without a valid key never counts),
 * and documented as such.
 */
export function V1Controller(resource: string): ClassDecorator {
  return applyDecorators(
    Controller(`v1/${resource}`),
    UseGuards(ApiKeyGuard, ApiRateLimitGuard),
    ApiBearerAuth(),
    ApiTags(resource),
    ApiUnauthorizedResponse({ description: 'Missing or invalid API key' }),
    ApiTooManyRequestsResponse({
      description:
        'This API key is over its rate limit (API_RATE_LIMIT_PER_S, ADMIN_API_RATE_LIMIT_PER_S)',
      headers: {
        'Retry-After': field('Seconds until the key may send again'),
        'RateLimit-Limit': field('Requests the key may make in any window: its burst'),
        'RateLimit-Remaining': field('Requests left in the window: 0'),
        'RateLimit-Reset': field('Seconds until the window frees a request'),
      },
    }),
  );
}
