import { WebhookEventMessage } from '@libs/contracts';

/**
 * How long POST /v1/events waits for Kafka's acknowledgement (or Postgres's commit, in direct
 * mode) before answering 503. A healthy broker or database answers in milliseconds; without a
 * bound, one that is down would hold every request for the whole kafkajs retry budget (about a
 * minute), past most clients' timeouts. A write given up on may still land later: the client's
 * retry with the same event `id` or Idempotency-Key is then delivered once.
 */
export const PUBLISH_DEADLINE_MS = 5_000;

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
