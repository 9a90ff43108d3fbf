import { Injectable } from '@nestjs/common';
import { WebhookRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { FindWebhookUseCase } from './find-webhook.use-case';

@Injectable()
export class DeleteWebhookUseCase {
  constructor(
    private readonly findWebhook: FindWebhookUseCase,
    private readonly webhooks: WebhookRepository,
  ) {}

  /** The webhook stops receiving events at once; waiting deliveries are discarded, history stays. */
  async execute(id: string, scope: AccountScope): Promise<void> {
    const webhook = await this.findWebhook.execute(id, scope);
    await this.webhooks.markDeleted(webhook);
  }
}
