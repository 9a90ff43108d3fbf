import { Module } from '@nestjs/common';
import { PersistenceModule } from '@libs/persistence';
import { AccountsController } from './accounts.controller';
import { CreateApiKeyUseCase } from './create-api-key.use-case';
import { RevokeApiKeyUseCase } from './revoke-api-key.use-case';

@Module({
  imports: [PersistenceModule],
  controllers: [AccountsController],
  providers: [CreateApiKeyUseCase, RevokeApiKeyUseCase],
})
export class AccountsModule {}
