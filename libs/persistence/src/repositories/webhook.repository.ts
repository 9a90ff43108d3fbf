import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { IsNull, Repository } from 'typeorm';
import { WebhookEntity } from '../entities';

export interface NewWebhook {
  accountId: string;
  url: string;
  eventTypes: string[];
  description: string | null;
  headers: Record<string, string>;
  secret: string;
}

export type WebhookChanges = Partial<
  Pick<WebhookEntity, 'url' | 'eventTypes' | 'description' | 'headers' | 'enabled'>
>;

@Injectable()
export class WebhookRepository {
  constructor(
    @InjectRepository(WebhookEntity) private readonly webhooks: Repository<WebhookEntity>,
  ) {}

  async create(input: NewWebhook): Promise<WebhookEntity> {
    const webhook = this.webhooks.create({
      id: randomUUID(),
      ...input,
      enabled: true,
      disabledReason: null,
      previousSecret: null,
      previousSecretExpiresAt: null,
      deletedAt: null,
    });
    return this.webhooks.save(webhook);
  }

  /** A webhook that has not been deleted. */
  findLive(id: string): Promise<WebhookEntity | null> {
    return this.webhooks.findOneBy({ id, deletedAt: IsNull() });
  }

  listLive(accountId?: string): Promise<WebhookEntity[]> {
    return this.webhooks.find({
      where: { deletedAt: IsNull(), ...(accountId === undefined ? {} : { accountId }) },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
  }

  /** The webhooks that receive the account's new events (matching by type is up to the caller). */
  findSubscribers(accountId: string): Promise<WebhookEntity[]> {
    return this.webhooks.find({
      where: { accountId, enabled: true, deletedAt: IsNull() },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
  }

  async update(webhook: WebhookEntity, changes: WebhookChanges): Promise<WebhookEntity> {
    const resumed = changes.enabled === true && !webhook.enabled;
    Object.assign(webhook, changes, resumed ? { disabledReason: null } : {});
    if (changes.enabled === false && webhook.disabledReason === null) {
      webhook.disabledReason = 'disabled by an operator';
    }
    return this.webhooks.save(webhook);
  }

  async markDeleted(webhook: WebhookEntity): Promise<void> {
    await this.webhooks.update({ id: webhook.id }, { deletedAt: new Date(), enabled: false });
  }
}
