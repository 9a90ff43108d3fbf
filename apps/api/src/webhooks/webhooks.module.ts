import { Module } from '@nestjs/common';
import { PersistenceModule } from '@libs/persistence';
import { CreateWebhookUseCase } from './create-webhook.use-case';
import { DeleteWebhookUseCase } from './delete-webhook.use-case';
import { FindWebhookUseCase } from './find-webhook.use-case';
import { UpdateWebhookUseCase } from './update-webhook.use-case';
import { WebhooksController } from './webhooks.controller';

@Module({
  imports: [PersistenceModule],
  controllers: [WebhooksController],
  providers: [CreateWebhookUseCase, FindWebhookUseCase, UpdateWebhookUseCase, DeleteWebhookUseCase],
})
export class WebhooksModule {}
