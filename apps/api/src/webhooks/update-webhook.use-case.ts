import { Injectable } from '@nestjs/common';
import { AppConfig } from '@libs/config';
import { WebhookRepository } from '@libs/persistence';
import { WebhookCredentials } from '@libs/secrets';
import { AccountScope } from '../auth/account-scope';
import { assertAllowedDestination } from './create-webhook.use-case';
import { FindWebhookUseCase } from './find-webhook.use-case';
import { WebhookView } from './webhook-view';
import { UpdateWebhookRequest } from './webhook.request';

@Injectable()
export class UpdateWebhookUseCase {
  constructor(
    private readonly findWebhook: FindWebhookUseCase,
    private readonly webhooks: WebhookRepository,
    private readonly config: AppConfig,
    private readonly credentials: WebhookCredentials,
  ) {}

  async execute(
    id: string,
    request: UpdateWebhookRequest,
    scope: AccountScope,
  ): Promise<WebhookView> {
    const webhook = await this.findWebhook.execute(id, scope);
    if (request.url !== undefined) assertAllowedDestination(request.url, this.config);
    const updated = await this.webhooks.update(webhook, {
      url: request.url,
      eventTypes: request.event_types,
      description: request.description,
      headers:
        request.headers === undefined
          ? undefined
          : this.credentials.sealHeaders(webhook.id, request.headers),
      enabled: request.enabled,
      rateLimitPerS: request.rate_limit_per_s,
    });
    return this.findWebhook.reveal(FindWebhookUseCase.orNotFound(id, updated));
  }
}
