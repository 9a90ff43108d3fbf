import { Module } from '@nestjs/common';
import { PersistenceModule } from '@libs/persistence';
import { CreateWebhookUseCase } from './create-webhook.use-case';
import { DeleteWebhookUseCase } from './delete-webhook.use-case';
import { FindWebhookUseCase } from './find-webhook.use-case';
import { GetWebhookStatsUseCase } from './get-webhook-stats.use-case';
import { ReplayWebhookUseCase } from './replay-webhook.use-case';
import { RotateWebhookSecretUseCase } from './rotate-webhook-secret.use-case';
import { UpdateWebhookUseCase } from './update-webhook.use-case';
import { WebhooksController } from './webhooks.controller';

@Module({
  imports: [PersistenceModule],
  controllers: [WebhooksController],
  providers: [
    CreateWebhookUseCase,
    FindWebhookUseCase,
    UpdateWebhookUseCase,
    DeleteWebhookUseCase,
    RotateWebhookSecretUseCase,
    ReplayWebhookUseCase,
    GetWebhookStatsUseCase,
  ],
})
export class WebhooksModule {}
