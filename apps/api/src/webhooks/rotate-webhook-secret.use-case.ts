import { Injectable } from '@nestjs/common';
import { generateWebhookSecret } from '@libs/delivery';
import { WebhookRepository } from '@libs/persistence';
import { SealedValueError, WebhookCredentials } from '@libs/secrets';
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
      // A secret the service cannot decrypt (its key is gone) cannot sign either: kept for the
      // grace period, it would hold every request back until then. Rotating is the way out.
      this.opens(webhook.id, webhook.secret) ? PREVIOUS_SECRET_GRACE_MS : 0,
    );
    const view = this.findWebhook.reveal(FindWebhookUseCase.orNotFound(id, rotated));
    return { ...view, secret };
  }

  private opens(webhookId: string, sealed: string): boolean {
    try {
      this.credentials.openSecret(webhookId, sealed);
      return true;
    } catch (error) {
      if (error instanceof SealedValueError) return false;
      throw error;
    }
  }
}
