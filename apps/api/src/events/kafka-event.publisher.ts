import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { ClientKafka, KafkaOptions } from '@nestjs/microservices';
import { Partitioners } from 'kafkajs';
import { lastValueFrom } from 'rxjs';
import { AppConfig } from '@libs/config';
import { EVENT_HEADERS, WebhookEventMessage, serializeEvent } from '@libs/contracts';
import { GroupCommit, KafkaAdminService, kafkaClientConfig, withDeadline } from '@libs/messaging';
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
/**
 * Produce requests awaiting acknowledgement at once, per broker. Two: an event that arrives
 * while one request is out goes in the next at once instead of waiting a round trip, which a
 * remote cluster with acks=all (5-20 ms) would add to the p99. One would save the api and a
 * local broker some CPU under load (fewer, larger requests: about 8 % of the api's CPU per
 * event in the bench, where the broker answers in a millisecond), not worth that latency.
 */
const PRODUCES_IN_FLIGHT = 2;
/**
 * Events waiting for a produce request, per partition a broker leads: beyond it the api
 * answers 503 at once.
 */
const WAITING_PER_PARTITION = 5_000;
/**
 * How often the partitions' leaders are read again. A batch formed on an outdated leader is
 * still delivered (kafkajs routes each partition to its current leader); it only costs an
 * extra request, so a minute is plenty, and a failed produce reads them at once.
 */
const LEADERS_REFRESH_MS = 60_000;
/**
 * The batch of the partitions whose leader is not known: all of them before the first read,
 * then those whose leader is being elected (-1 in the metadata too).
 */
const UNKNOWN_LEADER = -1;

/** The api's producer: acks=all, and the partitions any Java client would choose. */
export function eventsProducerOptions(config: AppConfig): NonNullable<KafkaOptions['options']> {
  return {
    client: kafkaClientConfig(config.kafka, '-api'),
    postfixId: '',
    producerOnlyMode: true,
    producer: {
      // Java-compatible murmur2: the same account lands on the same partition as with any
      // other Kafka client.
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    },
    send: { acks: -1 },
  };
}

interface OutgoingMessage {
  key: string;
  value: string;
  headers: Record<string, string>;
  /** Chosen here once the topic's partitions are known, so kafkajs does not hash the key again. */
  partition?: number;
}

/** The topic's partitions: how many, and which broker leads each. */
interface Partitions {
  count: number;
  leaders: readonly number[];
  partitionOf: (key: string) => number;
}

/**
 * Writes events to the topic, keyed by account so each account's events stay in order.
 * Concurrent requests share produce calls (group commit): each request still answers only
 * once every in-sync replica has its event (acks=all), and a busy api sends a few large
 * produce requests instead of one per event.
 *
 * Batches are formed per leader broker, as kafkajs sends them (one produce request per
 * leader): each batch is one request carrying every partition that broker leads, so a
 * partition adds no request of its own (per-partition batches cost a third more api CPU per
 * event, measured, in requests of one or two events each). A broker that is slow or down
 * holds up the partitions it leads, never another broker's.
 */
@Injectable()
export class KafkaEventPublisher
  extends EventPublisher
  implements OnApplicationBootstrap, OnApplicationShutdown
{
  readonly unavailableMessage = 'The event could not be written to Kafka; retry later';
  private readonly logger = new Logger(KafkaEventPublisher.name);
  private readonly batchesByLeader = new Map<number, GroupCommit<OutgoingMessage, undefined>>();
  /** Undefined until read: kafkajs then picks the partitions. */
  private partitions: Partitions | undefined;
  private leadersRead: Promise<void> | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(EVENTS_PRODUCER) private readonly client: ClientKafka,
    private readonly admin: KafkaAdminService,
    private readonly config: AppConfig,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.client.connect();
    await this.readLeaders();
    this.refreshTimer = setInterval(() => void this.readLeaders(), LEADERS_REFRESH_MS).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.refreshTimer);
    await this.client.close();
  }

  /**
   * Resolves once every in-sync replica has the event (acks=all); rejects when Kafka refuses
   * it or has not acknowledged it within PUBLISH_DEADLINE_MS.
   */
  async publish(event: WebhookEventMessage): Promise<void> {
    const { partition, leader } = this.placeOf(event.account_id);
    // A request given up on leaves the queue if its event was not sent yet.
    const giveUp = new AbortController();
    // Always the {key, value} envelope: a bare object with a `key` field would be taken for one.
    const acknowledged = this.batchesLedBy(leader).submit(
      {
        partition,
        key: event.account_id,
        value: serializeEvent(event),
        headers: {
          [EVENT_HEADERS.eventType]: event.type,
          [EVENT_HEADERS.contentType]: 'application/json',
        },
      },
      giveUp.signal,
    );
    try {
      await withDeadline(acknowledged, PUBLISH_DEADLINE_MS, 'Kafka acknowledgement');
    } catch (error) {
      giveUp.abort(error);
      throw error;
    }
  }

  /** The key's partition and its leader; before the first read, the leader is unknown. */
  private placeOf(key: string): { partition?: number; leader: number } {
    const partitions = this.partitions;
    if (partitions === undefined) return { leader: UNKNOWN_LEADER };
    const partition = partitions.partitionOf(key);
    return { partition, leader: partitions.leaders[partition] ?? UNKNOWN_LEADER };
  }

  private batchesLedBy(leader: number): GroupCommit<OutgoingMessage, undefined> {
    let batches = this.batchesByLeader.get(leader);
    if (batches === undefined) {
      batches = new GroupCommit(
        async (messages) => {
          try {
            await lastValueFrom(this.client.emitBatch(this.config.kafka.topic, { messages }));
          } catch (error) {
            // Leadership may have moved: the next batches should follow it.
            void this.readLeaders();
            throw error;
          }
          return messages.map(() => undefined);
        },
        {
          maxBatch: PRODUCE_BATCH,
          maxInFlight: PRODUCES_IN_FLIGHT,
          // The bound of one partition's queue times the partitions one broker may lead.
          maxWaiting: WAITING_PER_PARTITION * this.config.kafka.topicPartitions,
          maxWeight: PRODUCE_BATCH_BYTES,
          weightOf: (message) => Buffer.byteLength(message.value) + Buffer.byteLength(message.key),
        },
      );
      this.batchesByLeader.set(leader, batches);
    }
    return batches;
  }

  /** Reads the partitions' leaders, one read at a time; a failed read keeps the last ones. */
  private readLeaders(): Promise<void> {
    this.leadersRead ??= this.admin
      .partitionLeaders()
      .then((leaders) => {
        this.partitions = partitionsOf(this.config.kafka.topic, leaders, this.partitions);
      })
      .catch((error: unknown) => {
        this.logger.warn(`Could not read the partitions' leaders: ${String(error)}`);
      })
      .finally(() => {
        this.leadersRead = undefined;
      });
    return this.leadersRead;
  }
}

/**
 * The partition of each key as the producer would choose it (Java-compatible murmur2 over the
 * topic's real partition count, whatever KAFKA_TOPIC_PARTITIONS says), with their leaders.
 */
function partitionsOf(
  topic: string,
  leaders: readonly number[],
  previous: Partitions | undefined,
): Partitions | undefined {
  if (leaders.length === 0) return undefined;
  if (previous?.count === leaders.length) return { ...previous, leaders };
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = leaders.map((leader, partitionId) => ({
    partitionId,
    leader,
    replicas: [leader],
    isr: [leader],
    partitionErrorCode: 0,
  }));
  return {
    count: leaders.length,
    leaders,
    partitionOf: (key) => partitioner({ topic, partitionMetadata, message: { key, value: null } }),
  };
}
