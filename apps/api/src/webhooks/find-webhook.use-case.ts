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

  reveal(webhook: WebhookEntity): WebhookView {
    return revealWebhook(webhook, this.credentials);
  }
}

/**
 * A webhook as the API shows it. One whose values cannot be decrypted (a key taken out of
 * ENCRYPTION_KEYS too soon, a damaged value) is still shown, with the reason: one such row
 * must not make the whole list fail, nor hide a write that did happen. Headers and secrets
 * are opened apart: headers that open are shown even when a secret does not (a client that
 * reads a webhook and writes it back must not get `{}` for its real headers).
 */
export function revealWebhook(
  webhook: WebhookEntity,
  credentials: WebhookCredentials,
): WebhookView {
  const headers = opened(() => credentials.openHeaders(webhook.id, webhook.headers));
  const secrets = opened(() => credentials.open({ ...webhook, headers: {} }));
  return {
    webhook,
    headers: 'value' in headers ? headers.value : {},
    credentialsError: headers.error ?? secrets.error ?? null,
  };
}

function opened<T>(open: () => T): { value: T; error?: undefined } | { error: string } {
  try {
    return { value: open() };
  } catch (error) {
    if (!(error instanceof SealedValueError)) throw error;
    return { error: error.message };
  }
}
