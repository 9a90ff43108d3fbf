import { Injectable } from '@nestjs/common';
import { WebhookEventMessage } from '@libs/contracts';
import { StoreDirectEventUseCase } from '@libs/delivery';
import { EventPublisher } from './event-publisher';

/**
 * Direct mode: the event and its deliveries are committed to Postgres before the 202, and the
 * workers deliver them from there. No Kafka is involved.
 */
@Injectable()
export class DirectEventPublisher extends EventPublisher {
  readonly unavailableMessage = 'The event could not be stored; retry later';

  constructor(private readonly storeDirectEvent: StoreDirectEventUseCase) {
    super();
  }

  publish(event: WebhookEventMessage): Promise<void> {
    return this.storeDirectEvent.execute(event);
  }
}
