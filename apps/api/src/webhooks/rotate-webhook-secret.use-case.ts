import { Injectable } from '@nestjs/common';
import { generateWebhookSecret } from '@libs/delivery';
import { WebhookRepository } from '@libs/persistence';
import { WebhookCredentials } from '@libs/secrets';
import { AccountScope } from '../auth/account-scope';
import { FindWebhookUseCase } from './find-webhook.use-case';
import { WebhookViewWithSecret } from './webhook-view';

/** Receivers get a day to switch: meanwhile every request carries both signatures. */
export const PREVIOUS_SECRET_GRACE_MS = 24 * 60 * 60 * 1000;

@Injectable()
export class RotateWebhookSecretUseCase {
  constructor(
    private readonly findWebhook: FindWebhookUseCase,
    private readonly webhooks: WebhookRepository,
    private readonly credentials: WebhookCredentials,
  ) {}

  async execute(id: string, scope: AccountScope): Promise<WebhookViewWithSecret> {
    const webhook = await this.findWebhook.execute(id, scope);
    const secret = generateWebhookSecret();
    const rotated = await this.webhooks.rotateSecret(
      webhook,
      this.credentials.sealSecret(webhook.id, secret),
      PREVIOUS_SECRET_GRACE_MS,
    );
    const view = this.findWebhook.reveal(FindWebhookUseCase.orNotFound(id, rotated));
    return { ...view, secret };
  }
}
