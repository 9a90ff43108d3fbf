import { Injectable } from '@nestjs/common';
import { WebhookEntity, WebhookRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';

@Injectable()
export class FindWebhookUseCase {
  constructor(private readonly webhooks: WebhookRepository) {}

  /** The webhook, if it exists and the caller's scope reaches it; 404 otherwise. */
  async execute(id: string, scope: AccountScope): Promise<WebhookEntity> {
    const webhook = await this.webhooks.findLive(id);
    if (webhook === null || !scope.canSee(webhook.accountId)) {
      throw new ApiError(ApiErrorCode.WebhookNotFound, `Webhook ${id} not found`);
    }
    return webhook;
  }

  /** For writes that found the webhook deleted by the time they ran. */
  static orNotFound(id: string, webhook: WebhookEntity | null): WebhookEntity {
    if (webhook === null)
      throw new ApiError(ApiErrorCode.WebhookNotFound, `Webhook ${id} not found`);
    return webhook;
  }

  list(scope: AccountScope, accountId?: string): Promise<WebhookEntity[]> {
    return this.webhooks.listLive(scope.listFilter(accountId));
  }
}
