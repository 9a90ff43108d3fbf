import { Injectable } from '@nestjs/common';
import { WebhookEntity, WebhookRepository } from '@libs/persistence';
import { ApiError, ApiErrorCode } from '../common/api.errors';

@Injectable()
export class FindWebhookUseCase {
  constructor(private readonly webhooks: WebhookRepository) {}

  async execute(id: string): Promise<WebhookEntity> {
    const webhook = await this.webhooks.findLive(id);
    if (webhook === null)
      throw new ApiError(ApiErrorCode.WebhookNotFound, `Webhook ${id} not found`);
    return webhook;
  }

  list(accountId?: string): Promise<WebhookEntity[]> {
    return this.webhooks.listLive(accountId);
  }
}
