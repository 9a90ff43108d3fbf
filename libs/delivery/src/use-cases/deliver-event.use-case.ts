import { Injectable } from '@nestjs/common';
import { WebhookEventMessage, serializeEvent } from '@libs/contracts';
import { DeliveryRepository, WebhookRepository } from '@libs/persistence';
import { matchesEventType } from '../matching/event-type-matcher';
import { AttemptDeliveryUseCase } from './attempt-delivery.use-case';

export interface EventSource {
  partition: number;
  offset: string;
}

/**
 * What the worker does for one event from Kafka: store it with a delivery per subscribed
 * webhook, then make each delivery's first attempt, one after another. Both steps are safe to
 * run again for the same event: nothing is stored twice, and a delivery that already had its
 * first attempt (or has one under way elsewhere) is not sent again.
 */
@Injectable()
export class DeliverEventUseCase {
  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly attempts: AttemptDeliveryUseCase,
  ) {}

  /** Throws unless the database answers: a consumer waiting out an outage asks this. */
  async databaseReady(): Promise<void> {
    await this.deliveries.ping();
  }

  /** Stores the event; returns its deliveries still waiting for their first attempt. */
  async store(event: WebhookEventMessage, source: EventSource): Promise<string[]> {
    const subscribers = (await this.webhooks.findSubscribers(event.account_id)).filter((webhook) =>
      matchesEventType(webhook.eventTypes, event.type),
    );
    return this.deliveries.recordEvent(
      {
        id: event.id,
        accountId: event.account_id,
        type: event.type,
        body: serializeEvent(event),
        occurredAt: new Date(event.timestamp),
        kafkaPartition: source.partition,
        kafkaOffset: source.offset,
      },
      subscribers.map((webhook) => webhook.id),
    );
  }

  /**
   * Makes the first attempts, in order, one at a time, as long as `stillOwned()` says the
   * event is still this worker's to deliver. False when it stopped early: the event's Kafka
   * message is then read again (here or by the partition's next owner), which finishes it.
   */
  async attemptInOrder(deliveryIds: string[], stillOwned: () => boolean): Promise<boolean> {
    for (const deliveryId of deliveryIds) {
      if (!stillOwned()) return false;
      await this.attempts.executeFirst(deliveryId, stillOwned);
    }
    return true;
  }
}
