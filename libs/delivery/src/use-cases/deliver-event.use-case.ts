import { Injectable, Logger } from '@nestjs/common';
import { WebhookEventMessage, serializeEvent } from '@libs/contracts';
import { DeliveryRepository, RecordedEvent, WebhookRepository } from '@libs/persistence';
import { matchesEventType } from '../matching/event-type-matcher';
import { AttemptDeliveryUseCase, AttemptResult } from './attempt-delivery.use-case';

export interface EventSource {
  partition: number;
  offset: string;
}

/**
 * Everything the worker does for one event from Kafka: store it with a delivery per
 * subscribed webhook, then make each delivery's first attempt, one after another.
 * Safe to run again for the same event: nothing is stored twice and a delivery that
 * already had its first attempt is not sent again.
 */
@Injectable()
export class DeliverEventUseCase {
  private readonly logger = new Logger(DeliverEventUseCase.name);

  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly attempts: AttemptDeliveryUseCase,
  ) {}

  async execute(event: WebhookEventMessage, source: EventSource): Promise<AttemptResult[]> {
    const pending = (await this.record(event, source, null)).awaitingFirstAttempt;
    return this.attemptInOrder(pending);
  }

  /**
   * Stores the event and its deliveries with their first attempts parked until
   * `parkedUntil`, for an account whose lane is full: its lane drains them in order with
   * attemptParked; should this worker die, the scheduler takes them after `parkedUntil`.
   */
  async park(event: WebhookEventMessage, source: EventSource, parkedUntil: Date): Promise<void> {
    await this.record(event, source, parkedUntil);
  }

  /**
   * Makes the first attempts of up to `limit` of the account's parked deliveries, oldest
   * first, after pushing the parking of the rest to `parkedUntil`. Returns how many it took.
   */
  async attemptParked(accountId: string, limit: number, parkedUntil: Date): Promise<number> {
    await this.deliveries.extendParking(accountId, parkedUntil);
    const parked = await this.deliveries.parkedFirstAttempts(accountId, limit);
    await this.attemptInOrder(parked);
    return parked.length;
  }

  private async attemptInOrder(deliveryIds: string[]): Promise<AttemptResult[]> {
    const results: AttemptResult[] = [];
    for (const deliveryId of deliveryIds) {
      const result = await this.attempts.executeFirst(deliveryId);
      if (result) results.push(result);
    }
    return results;
  }

  private async record(
    event: WebhookEventMessage,
    source: EventSource,
    parkedUntil: Date | null,
  ): Promise<RecordedEvent> {
    const subscribers = (await this.webhooks.findSubscribers(event.account_id)).filter((webhook) =>
      matchesEventType(webhook.eventTypes, event.type),
    );
    const recorded = await this.deliveries.recordEvent(
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
      parkedUntil,
    );
    if (recorded.idTakenByAnotherAccount) {
      // Never deliver one account's event body to another account's webhooks.
      this.logger.warn(
        `Event ${event.id} of account ${event.account_id} ignored: the id belongs to another account's event`,
      );
    }
    return recorded;
  }
}
