import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ClientKafka } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { AppConfig } from '@libs/config';
import { EVENT_HEADERS, WebhookEventMessage, serializeEvent } from '@libs/contracts';
import { GroupCommit, withDeadline } from '@libs/messaging';

export const EVENTS_PRODUCER = Symbol('EVENTS_PRODUCER');

/**
 * How long POST /v1/events waits for Kafka's acknowledgement before answering 503. A healthy
 * broker acknowledges in milliseconds; without a bound, a broker that is down would hold
 * every request for the whole kafkajs retry budget (about a minute), past most clients'
 * timeouts. A send given up on may still land later: the client's retry with the same event
 * `id` or Idempotency-Key is then delivered once.
 */
export const PUBLISH_DEADLINE_MS = 5_000;

/**
 * Events sent in one produce request at most. Requests form from the events that arrive
 * while the previous ones are being acknowledged, so this bounds a request, not the latency.
 */
const PRODUCE_BATCH = 500;
/**
 * Bytes of events in one produce request at most: well under the broker's default 1 MB limit
 * on a record batch (message.max.bytes), so one large event never makes its neighbours fail.
 * An event larger than this (MAX_EVENT_BYTES allows it) goes alone.
 */
const PRODUCE_BATCH_BYTES = 512 * 1024;
/** Produce requests awaiting acknowledgement at once. */
const PRODUCES_IN_FLIGHT = 4;

interface OutgoingMessage {
  key: string;
  value: string;
  headers: Record<string, string>;
}

/**
 * Writes events to the topic, keyed by account so each account's events stay in order.
 * Concurrent requests share produce calls (group commit): each request still answers only
 * once every in-sync replica has its event (acks=all), and a busy api sends a few large
 * produce requests instead of one per event.
 */
@Injectable()
export class EventPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly produce: GroupCommit<OutgoingMessage, undefined>;

  constructor(
    @Inject(EVENTS_PRODUCER) private readonly client: ClientKafka,
    private readonly config: AppConfig,
  ) {
    this.produce = new GroupCommit(
      async (messages) => {
        await lastValueFrom(this.client.emitBatch(this.config.kafka.topic, { messages }));
        return messages.map(() => undefined);
      },
      {
        maxBatch: PRODUCE_BATCH,
        maxInFlight: PRODUCES_IN_FLIGHT,
        maxWeight: PRODUCE_BATCH_BYTES,
        weightOf: (message) => Buffer.byteLength(message.value) + Buffer.byteLength(message.key),
      },
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.client.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }

  /**
   * Resolves once every in-sync replica has the event (acks=all); rejects when Kafka refuses
   * it or has not acknowledged it within PUBLISH_DEADLINE_MS.
   */
  async publish(event: WebhookEventMessage): Promise<void> {
    // Always the {key, value} envelope: a bare object with a `key` field would be taken for one.
    const acknowledged = this.produce.submit({
      key: event.account_id,
      value: serializeEvent(event),
      headers: {
        [EVENT_HEADERS.eventType]: event.type,
        [EVENT_HEADERS.contentType]: 'application/json',
      },
    });
    await withDeadline(acknowledged, PUBLISH_DEADLINE_MS, 'Kafka acknowledgement');
  }
}
