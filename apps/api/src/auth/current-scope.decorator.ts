import { ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AccountScope } from './account-scope';
import { AuthenticatedRequest } from './principal';

/** The caller's AccountScope, set up by ApiKeyGuard. */
export const CurrentScope = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const request = context.switchToHttp().getRequest<FastifyRequest & AuthenticatedRequest>();
  if (!request.principal) throw new Error('CurrentScope used on a route without ApiKeyGuard');
  return new AccountScope(request.principal);
});
