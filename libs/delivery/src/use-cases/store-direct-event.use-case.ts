import { Injectable } from '@nestjs/common';
import { WebhookEventMessage, serializeEvent } from '@libs/contracts';
import { DirectQueueRepository, DirectWorkNotifier, WebhookRepository } from '@libs/persistence';
import { matchesEventType } from '../matching/event-type-matcher';

/**
 * Direct mode's way in (DELIVERY_MODE=direct, no Kafka): stores the event with a delivery per
 * subscribed webhook and queues them on the account's lane, in one transaction, so the event
 * is safe once this resolves. The workers make the attempts, through the same engine as for
 * Kafka events. The same event id again for the account stores nothing and delivers nothing.
 */
@Injectable()
export class StoreDirectEventUseCase {
  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly queue: DirectQueueRepository,
    private readonly notifier: DirectWorkNotifier,
  ) {}

  async execute(event: WebhookEventMessage): Promise<void> {
    const live = await this.webhooks.findSubscribersOf([event.account_id]);
    const subscribers = (live.get(event.account_id) ?? []).filter((webhook) =>
      matchesEventType(webhook.eventTypes, event.type),
    );
    const stored = await this.queue.storeEvent(
      {
        id: event.id,
        accountId: event.account_id,
        type: event.type,
        body: serializeEvent(event),
        occurredAt: new Date(event.timestamp),
      },
      subscribers.map((webhook) => webhook.id),
    );
    // A lane that existed already is being worked on, or waits for a free slot.
    if (stored.laneOpened) this.notifier.notify();
  }
}
