import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ClientKafka } from '@nestjs/microservices';
import { Partitioners } from 'kafkajs';
import { lastValueFrom } from 'rxjs';
import { AppConfig } from '@libs/config';
import { EVENT_HEADERS, WebhookEventMessage, serializeEvent } from '@libs/contracts';
import { GroupCommit, withDeadline } from '@libs/messaging';
import { EventPublisher, PUBLISH_DEADLINE_MS } from './event-publisher';

export const EVENTS_PRODUCER = Symbol('EVENTS_PRODUCER');

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
/** Produce requests awaiting acknowledgement at once, per partition. */
const PRODUCES_IN_FLIGHT = 2;
/** Events waiting for a produce request, per partition: beyond it the api answers 503 at once. */
const WAITING_PER_PARTITION = 5_000;

interface OutgoingMessage {
  key: string;
  value: string;
  headers: Record<string, string>;
}

/**
 * Writes events to the topic, keyed by account so each account's events stay in order.
 * Concurrent requests share produce calls (group commit): each request still answers only
 * once every in-sync replica has its event (acks=all), and a busy api sends a few large
 * produce requests instead of one per event. Batches are formed per partition (the
 * producer's own murmur2 choice), so a partition whose leader is being elected holds up its
 * own events only.
 */
@Injectable()
export class KafkaEventPublisher
  extends EventPublisher
  implements OnApplicationBootstrap, OnApplicationShutdown
{
  readonly unavailableMessage = 'The event could not be written to Kafka; retry later';
  private readonly partitions: GroupCommit<OutgoingMessage, undefined>[];
  private readonly partitionOf: (key: string) => number;

  constructor(
    @Inject(EVENTS_PRODUCER) private readonly client: ClientKafka,
    private readonly config: AppConfig,
  ) {
    super();
    const count = config.kafka.topicPartitions;
    this.partitions = Array.from({ length: count }, () => this.partitionBatches());
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }));
    this.partitionOf = (key) =>
      partitioner({ topic: config.kafka.topic, partitionMetadata, message: { key, value: null } });
  }

  private partitionBatches(): GroupCommit<OutgoingMessage, undefined> {
    return new GroupCommit(
      async (messages) => {
        await lastValueFrom(this.client.emitBatch(this.config.kafka.topic, { messages }));
        return messages.map(() => undefined);
      },
      {
        maxBatch: PRODUCE_BATCH,
        maxInFlight: PRODUCES_IN_FLIGHT,
        maxWaiting: WAITING_PER_PARTITION,
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
    // A request given up on leaves the queue if its event was not sent yet.
    const acknowledged = this.partitions[this.partitionOf(event.account_id)].submit(
      {
        key: event.account_id,
        value: serializeEvent(event),
        headers: {
          [EVENT_HEADERS.eventType]: event.type,
          [EVENT_HEADERS.contentType]: 'application/json',
        },
      },
      AbortSignal.timeout(PUBLISH_DEADLINE_MS),
    );
    await withDeadline(acknowledged, PUBLISH_DEADLINE_MS, 'Kafka acknowledgement');
  }
}
