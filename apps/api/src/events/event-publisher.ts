import { WebhookEventMessage } from '@libs/contracts';

/**
 * Where an accepted event goes: Kafka (DELIVERY_MODE=kafka) or straight into Postgres
 * (DELIVERY_MODE=direct). The api answers 202 once `publish` resolves; either way the event is
 * then durable, and publishing the same event again delivers it once.
 */
export abstract class EventPublisher {
  /** Said to the client (503) when `publish` fails: what could not be reached. */
  abstract readonly unavailableMessage: string;

  abstract publish(event: WebhookEventMessage): Promise<void>;
}
