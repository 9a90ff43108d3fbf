import { Injectable } from '@nestjs/common';
import { generateWebhookSecret } from '@libs/delivery';
import { WebhookEntity, WebhookRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { FindWebhookUseCase } from './find-webhook.use-case';

/** Receivers get a day to switch: meanwhile every request carries both signatures. */
export const PREVIOUS_SECRET_GRACE_MS = 24 * 60 * 60 * 1000;

@Injectable()
export class RotateWebhookSecretUseCase {
  constructor(
    private readonly findWebhook: FindWebhookUseCase,
    private readonly webhooks: WebhookRepository,
  ) {}

  async execute(id: string, scope: AccountScope): Promise<WebhookEntity> {
    const webhook = await this.findWebhook.execute(id, scope);
    const rotated = await this.webhooks.rotateSecret(
      webhook,
      generateWebhookSecret(),
      PREVIOUS_SECRET_GRACE_MS,
    );
    return FindWebhookUseCase.orNotFound(id, rotated);
  }
}
