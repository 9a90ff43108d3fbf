import { Injectable } from '@nestjs/common';
import { ApiKeyRepository } from '@libs/persistence';
import { ApiError, ApiErrorCode } from '../common/api.errors';

@Injectable()
export class RevokeApiKeyUseCase {
  constructor(private readonly apiKeys: ApiKeyRepository) {}

  async execute(accountId: string, id: string): Promise<void> {
    if (!(await this.apiKeys.revoke(accountId, id))) {
      throw new ApiError(ApiErrorCode.ApiKeyNotFound, `API key ${id} not found`);
    }
  }
}
