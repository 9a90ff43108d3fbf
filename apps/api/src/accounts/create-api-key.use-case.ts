import { Injectable } from '@nestjs/common';
import { ApiKeyRepository } from '@libs/persistence';
import { generateApiKey } from '../auth/api-key';
import { CreatedApiKeyResponse, toApiKeyResponse } from './api-key.dto';

@Injectable()
export class CreateApiKeyUseCase {
  constructor(private readonly apiKeys: ApiKeyRepository) {}

  async execute(accountId: string, description: string | null): Promise<CreatedApiKeyResponse> {
    const generated = generateApiKey();
    const stored = await this.apiKeys.create(
      accountId,
      generated.secretHash,
      description,
      generated.id,
    );
    return { ...toApiKeyResponse(stored), key: generated.key };
  }
}
