import { Injectable } from '@nestjs/common';
import { WebhookEntity, WebhookRepository } from '@libs/persistence';
import { SealedValueError, WebhookCredentials } from '@libs/secrets';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { WebhookView } from './webhook-view';

@Injectable()
export class FindWebhookUseCase {
  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly credentials: WebhookCredentials,
  ) {}

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

  /** The webhook as the API shows it, custom header values decrypted. */
  async show(id: string, scope: AccountScope): Promise<WebhookView> {
    return this.reveal(await this.execute(id, scope));
  }

  async list(scope: AccountScope, accountId?: string): Promise<WebhookView[]> {
    const webhooks = await this.webhooks.listLive(scope.listFilter(accountId));
    return webhooks.map((webhook) => this.reveal(webhook));
  }

  /**
   * A webhook whose values cannot be decrypted (a key taken out of ENCRYPTION_KEYS too soon,
   * a damaged value) is still shown, with the reason instead of its headers: one such row
   * must not make the whole list fail, nor hide a write that did happen.
   */
  reveal(webhook: WebhookEntity): WebhookView {
    try {
      const { headers } = this.credentials.open(webhook);
      return { webhook, headers, credentialsError: null };
    } catch (error) {
      if (!(error instanceof SealedValueError)) throw error;
      return { webhook, headers: {}, credentialsError: error.message };
    }
  }
}
