import {
  Body,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiOkResponse,
} from '@nestjs/swagger';
import { ApiKeyRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { CurrentScope } from '../auth/current-scope.decorator';
import { V1Controller } from '../auth/v1-controller.decorator';
import { ExternalIdPipe } from '../common/external-id.pipe';
import {
  ApiKeyResponse,
  CreateApiKeyRequest,
  CreatedApiKeyResponse,
  toApiKeyResponse,
} from './api-key.dto';
import { CreateApiKeyUseCase } from './create-api-key.use-case';
import { RevokeApiKeyUseCase } from './revoke-api-key.use-case';

/** Account API keys; managed with the admin key only. */
@V1Controller('accounts')
@ApiForbiddenResponse({ description: 'Not the admin key' })
export class AccountsController {
  constructor(
    private readonly createApiKey: CreateApiKeyUseCase,
    private readonly revokeApiKey: RevokeApiKeyUseCase,
    private readonly apiKeys: ApiKeyRepository,
  ) {}

  /** A new key acting only inside this account. The key is in this answer and nowhere else. */
  @Post(':account_id/api-keys')
  @ApiCreatedResponse({ type: CreatedApiKeyResponse })
  create(
    @CurrentScope() scope: AccountScope,
    @Param('account_id', new ExternalIdPipe('account_id')) accountId: string,
    @Body() request: CreateApiKeyRequest,
  ): Promise<CreatedApiKeyResponse> {
    scope.assertAdmin();
    return this.createApiKey.execute(accountId, request.description ?? null);
  }

  /** The account's active keys, without the keys themselves. */
  @Get(':account_id/api-keys')
  @ApiOkResponse({ type: [ApiKeyResponse] })
  async list(
    @CurrentScope() scope: AccountScope,
    @Param('account_id', new ExternalIdPipe('account_id')) accountId: string,
  ): Promise<ApiKeyResponse[]> {
    scope.assertAdmin();
    return (await this.apiKeys.listActive(accountId)).map(toApiKeyResponse);
  }

  /** Revokes a key at once. */
  @Delete(':account_id/api-keys/:id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Revoked' })
  async revoke(
    @CurrentScope() scope: AccountScope,
    @Param('account_id', new ExternalIdPipe('account_id')) accountId: string,
    @Param('id', new ParseUUIDPipe()) id: string,
  ): Promise<void> {
    scope.assertAdmin();
    await this.revokeApiKey.execute(accountId, id);
  }
}
