import { Controller, UseGuards, applyDecorators } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ApiRateLimitGuard } from '../rate-limits/api-rate-limit.guard';
import { ApiKeyGuard } from './api-key.guard';

const wholeSeconds = { type: 'integer', minimum: 0 } as const;

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
        'Retry-After': {
          description: 'Seconds until the key may send again',
          schema: wholeSeconds,
        },
        'RateLimit-Limit': {
          description: 'Requests the key may make in the current window (its burst)',
          schema: wholeSeconds,
        },
        'RateLimit-Remaining': { description: 'Requests left in the window', schema: wholeSeconds },
        'RateLimit-Reset': {
          description: 'Seconds until the window frees a request',
          schema: wholeSeconds,
        },
      },
    }),
  );
}
