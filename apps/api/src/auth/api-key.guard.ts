import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { AppConfig } from '@libs/config';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { AuthenticatedRequest } from './principal';

/** `Authorization: Bearer <key>` on every /v1 route; 401 without a valid key. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly adminKeyDigest: Buffer;

  constructor(config: AppConfig) {
    this.adminKeyDigest = digest(config.http.adminApiKey);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request & AuthenticatedRequest>();
    const key = bearerToken(request.headers.authorization);
    if (key === undefined) {
      throw new ApiError(ApiErrorCode.Unauthorized, 'Missing Authorization: Bearer <api key>');
    }
    // Compare digests of equal length in constant time: no timing hint about the key.
    if (!timingSafeEqual(digest(key), this.adminKeyDigest)) {
      throw new ApiError(ApiErrorCode.Unauthorized, 'Invalid API key');
    }
    request.principal = { kind: 'admin' };
    return true;
  }
}

function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
