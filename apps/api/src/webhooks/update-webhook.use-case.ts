import { Injectable } from '@nestjs/common';
import { AppConfig } from '@libs/config';
import { WebhookEntity, WebhookRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { assertAllowedDestination } from './create-webhook.use-case';
import { FindWebhookUseCase } from './find-webhook.use-case';
import { UpdateWebhookRequest } from './webhook.request';

@Injectable()
export class UpdateWebhookUseCase {
  constructor(
    private readonly findWebhook: FindWebhookUseCase,
    private readonly webhooks: WebhookRepository,
    private readonly config: AppConfig,
  ) {}

  async execute(
    id: string,
    request: UpdateWebhookRequest,
    scope: AccountScope,
  ): Promise<WebhookEntity> {
    const webhook = await this.findWebhook.execute(id, scope);
    if (request.url !== undefined) assertAllowedDestination(request.url, this.config);
    const updated = await this.webhooks.update(webhook, {
      url: request.url,
      eventTypes: request.event_types,
      description: request.description,
      headers: request.headers,
      enabled: request.enabled,
    });
    return FindWebhookUseCase.orNotFound(id, updated);
  }
}
