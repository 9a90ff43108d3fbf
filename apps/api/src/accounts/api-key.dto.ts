import { IsOptional, IsString, MaxLength } from 'class-validator';
import { ApiKeyEntity } from '@libs/persistence';
import { NoNulCharacters } from '../common/no-nul-characters';

export class CreateApiKeyRequest {
  /** What the key is for, e.g. "billing service". */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @NoNulCharacters()
  description?: string;
}

export class ApiKeyResponse {
  id!: string;
  account_id!: string;
  description!: string | null;
  created_at!: string;
  last_used_at!: string | null;
}

export class CreatedApiKeyResponse extends ApiKeyResponse {
  /** `whk_…`: shown once, stored only as a hash. Use it as `Authorization: Bearer <key>`. */
  key!: string;
}

export function toApiKeyResponse(key: ApiKeyEntity): ApiKeyResponse {
  return {
    id: key.id,
    account_id: key.accountId,
    description: key.description,
    created_at: key.createdAt.toISOString(),
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
  };
}
