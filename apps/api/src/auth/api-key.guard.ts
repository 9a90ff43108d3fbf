import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppConfig } from '@libs/config';
import { ApiKeyRepository } from '@libs/persistence';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { parseApiKey, secretMatches, sha256 } from './api-key';
import { AuthenticatedRequest, Principal } from './principal';

/**
 * `Authorization: Bearer <key>` on every /v1 route: the admin key, or an account key that
 * has not been revoked. Anything else answers 401.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly adminKeyDigest: Buffer;

  constructor(
    config: AppConfig,
    private readonly apiKeys: ApiKeyRepository,
  ) {
    this.adminKeyDigest = sha256(config.http.adminApiKey);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest & AuthenticatedRequest>();
    const key = bearerToken(request.headers.authorization);
    if (key === undefined) {
      throw new ApiError(ApiErrorCode.Unauthorized, 'Missing Authorization: Bearer <api key>');
    }
    const principal = await this.authenticate(key);
    if (principal === undefined) throw new ApiError(ApiErrorCode.Unauthorized, 'Invalid API key');
    request.principal = principal;
    return true;
  }

  private async authenticate(key: string): Promise<Principal | undefined> {
    // Digests have equal length, so the comparison takes the same time whatever the key.
    if (timingSafeEqual(sha256(key), this.adminKeyDigest)) return { kind: 'admin' };
    const parsed = parseApiKey(key);
    if (parsed === undefined) return undefined;
    const stored = await this.apiKeys.findActive(parsed.id);
    if (stored === null || !secretMatches(parsed.secret, stored.secretHash)) return undefined;
    await this.apiKeys.touch(stored);
    return { kind: 'account', accountId: stored.accountId, keyId: stored.id };
  }
}

function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}
