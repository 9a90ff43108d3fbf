import { Controller, UseGuards, applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ApiKeyGuard } from './api-key.guard';

/** A controller under /v1: authenticated with a Bearer API key and documented as such. */
export function V1Controller(resource: string): ClassDecorator {
  return applyDecorators(
    Controller(`v1/${resource}`),
    UseGuards(ApiKeyGuard),
    ApiBearerAuth(),
    ApiTags(resource),
    ApiUnauthorizedResponse({ description: 'Missing or invalid API key' }),
  );
}
