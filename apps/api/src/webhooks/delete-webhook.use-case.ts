import { Injectable } from '@nestjs/common';
import { WebhookRepository } from '@libs/persistence';
import { FindWebhookUseCase } from './find-webhook.use-case';

@Injectable()
export class DeleteWebhookUseCase {
  constructor(
    private readonly findWebhook: FindWebhookUseCase,
    private readonly webhooks: WebhookRepository,
  ) {}

  /** The webhook stops receiving events at once; its delivery history stays. */
  async execute(id: string): Promise<void> {
    const webhook = await this.findWebhook.execute(id);
    await this.webhooks.markDeleted(webhook);
  }
}
