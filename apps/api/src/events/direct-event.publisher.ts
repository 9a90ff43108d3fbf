import { Injectable } from '@nestjs/common';
import { WebhookEventMessage } from '@libs/contracts';
import { StoreDirectEventUseCase } from '@libs/delivery';
import { withDeadline } from '@libs/messaging';
import { EventPublisher, PUBLISH_DEADLINE_MS } from './event-publisher';

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
    const stored = this.storeDirectEvent.execute(event);
    return withDeadline(stored, PUBLISH_DEADLINE_MS, 'Postgres commit of the event');
  }
}
