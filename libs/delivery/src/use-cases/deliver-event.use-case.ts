import { Injectable } from '@nestjs/common';
import { WebhookEventMessage, serializeEvent } from '@libs/contracts';
import { GroupCommit } from '@libs/messaging';
import { DeliveryRepository, isPermanentDataError } from '@libs/persistence';
import { AttemptDeliveryUseCase, AttemptGates } from './attempt-delivery.use-case';

export interface EventSource {
  partition: number;
  offset: string;
  /** Size of the message's value: what the event weighs in a store statement. */
  bytes: number;
}

interface EventToStore {
  event: WebhookEventMessage;
  source: EventSource;
}

/**
 * Events stored by one statement at most. A batch forms only from what arrives while the
 * previous ones are being written, so this bounds a statement's size, not the latency.
 */
const STORE_BATCH = 200;
/** Bytes of events in one store statement at most; a larger event is stored alone. */
const STORE_BATCH_BYTES = 4 * 1024 * 1024;
/** Store statements under way at once (each holds one pooled connection). */
const STORE_IN_FLIGHT = 2;

/**
 * What the worker does for one event from Kafka: store it with a delivery per subscribed
 * webhook, then make each delivery's first attempt, one after another. Both steps are safe to
 * run again for the same event: nothing is stored twice, and a delivery that already had its
 * first attempt (or has one under way elsewhere) is not sent again.
 *
 * Events arriving together are stored together (group commit): one statement for all of
 * them, their webhooks chosen inside it, however many messages are in flight.
 */
@Injectable()
export class DeliverEventUseCase {
  private readonly storing = new GroupCommit<EventToStore, string[]>(
    (batch) => this.storeBatch(batch),
    // A batch Postgres refuses is stored event by event: only the refused event fails.
    {
      maxBatch: STORE_BATCH,
      maxInFlight: STORE_IN_FLIGHT,
      maxWeight: STORE_BATCH_BYTES,
      weightOf: ({ source }) => source.bytes,
      retryAloneWhen: isPermanentDataError,
    },
  );

  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly attempts: AttemptDeliveryUseCase,
  ) {}

  /** Throws unless the database answers: a consumer waiting out an outage asks this. */
  async databaseReady(): Promise<void> {
    await this.deliveries.ping();
  }

  /** Stores the event; returns its deliveries still waiting for their first attempt. */
  store(event: WebhookEventMessage, source: EventSource): Promise<string[]> {
    return this.storing.submit({ event, source });
  }

  /**
   * One statement: the events, and a delivery for each webhook of their accounts that is
   * live and subscribed to their type (chosen by Postgres, in the same snapshot).
   */
  private storeBatch(batch: EventToStore[]): Promise<string[][]> {
    return this.deliveries.storeEvents(
      batch.map(({ event, source }) => ({
        id: event.id,
        accountId: event.account_id,
        type: event.type,
        body: serializeEvent(event),
        occurredAt: new Date(event.timestamp),
        kafkaPartition: source.partition,
        kafkaOffset: source.offset,
      })),
    );
  }

  /**
   * Makes the first attempts, in order, one at a time, as long as `stillOwned()` says the
   * event is still this worker's to deliver. False when it stopped early: the event's Kafka
   * message is then read again (here or by the partition's next owner), which finishes it.
   */
  async attemptInOrder(
    deliveryIds: string[],
    stillOwned: () => boolean,
    gates?: AttemptGates,
  ): Promise<boolean> {
    for (const deliveryId of deliveryIds) {
      if (!stillOwned()) return false;
      await this.attempts.executeFirst(deliveryId, stillOwned, gates);
    }
    return true;
  }
}
