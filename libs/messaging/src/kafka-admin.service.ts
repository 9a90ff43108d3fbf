import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Admin, Kafka } from 'kafkajs';
import { AppConfig } from '@libs/config';
import { deadLetterTopic } from '@libs/contracts';
import { withDeadline } from './deadline';
import { kafkaClientConfig } from './kafka-client.config';

/**
 * Readiness probes and metric scrapes must answer within their own timeouts, whatever the
 * broker does: past this, the broker counts as unreachable.
 */
const ADMIN_DEADLINE_MS = 3_000;
/** How long start-up waits for the topics to be created and led (a busy broker can be slow). */
const TOPIC_READY_TIMEOUT_MS = 30_000;

export interface PartitionLag {
  partition: number;
  highWatermark: bigint;
  committed: bigint | null;
  lag: bigint;
}

/**
 * The Kafka admin connection: creates the events topic when it is missing (both apps do
 * this at start-up), answers readiness checks and reads consumer lag. In direct mode
 * (DELIVERY_MODE=direct) it never connects: there may be no broker at all.
 */
@Injectable()
export class KafkaAdminService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(KafkaAdminService.name);
  private readonly connection: Admin | null;

  constructor(private readonly config: AppConfig) {
    this.connection =
      config.delivery.mode === 'kafka'
        ? new Kafka(kafkaClientConfig(config.kafka, '-admin')).admin()
        : null;
  }

  /** False in direct mode: Kafka is not part of this process's work. */
  get used(): boolean {
    return this.connection !== null;
  }

  async onModuleInit(): Promise<void> {
    if (this.connection === null) return;
    await this.connection.connect();
    await this.ensureTopic();
  }

  async onModuleDestroy(): Promise<void> {
    await this.connection?.disconnect();
  }

  private get admin(): Admin {
    if (this.connection === null) throw new Error('Kafka is not used in direct mode');
    return this.connection;
  }

  /**
   * The events topic and its dead-letter topic (same partitions and replication), created
   * when missing, and known to the broker with their leaders before start-up goes on. A broker
   * that just created a topic can answer "unknown topic" for a moment (kafkajs does not retry
   * that one while waiting for leaders), so retriable errors are tried again for a while.
   */
  async ensureTopic(): Promise<void> {
    const deadline = Date.now() + TOPIC_READY_TIMEOUT_MS;
    for (;;) {
      try {
        await this.createMissingTopics();
        return;
      } catch (error) {
        const retriable = Reflect.get(Object(error), 'retriable') === true;
        if (!retriable || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  private async createMissingTopics(): Promise<void> {
    const { topic, topicPartitions, topicReplication } = this.config.kafka;
    const topics = [topic, deadLetterTopic(topic)];
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((name) => !existing.has(name));
    if (missing.length > 0) {
      // Two apps may race here: createTopics answers false for a topic that exists meanwhile.
      await this.admin.createTopics({
        topics: missing.map((name) => ({
          topic: name,
          numPartitions: topicPartitions,
          replicationFactor: topicReplication,
        })),
        waitForLeaders: true,
        timeout: TOPIC_READY_TIMEOUT_MS,
      });
      this.logger.log(`Created topics ${missing.join(', ')} with ${topicPartitions} partitions`);
    }
    // Throws (retriably) until the broker knows both topics and their partitions' leaders.
    await this.admin.fetchTopicMetadata({ topics });
  }

  /** Throws when no broker answers within ADMIN_DEADLINE_MS. */
  async ping(): Promise<void> {
    await withDeadline(this.admin.describeCluster(), ADMIN_DEADLINE_MS, 'Kafka describeCluster');
  }

  /**
   * The broker (node id) leading each partition of the events topic, by partition number; -1
   * for a partition without a leader at the moment (an election under way).
   */
  async partitionLeaders(): Promise<number[]> {
    const { topic } = this.config.kafka;
    const metadata = await withDeadline(
      this.admin.fetchTopicMetadata({ topics: [topic] }),
      ADMIN_DEADLINE_MS,
      'Kafka topic metadata',
    );
    const leaders: number[] = [];
    for (const { partitionId, leader } of metadata.topics[0]?.partitions ?? []) {
      leaders[partitionId] = leader;
    }
    return leaders;
  }

  /** Lag per partition: the topic's high watermark minus the group's committed offset. */
  async consumerLag(): Promise<PartitionLag[]> {
    if (this.connection === null) return [];
    const { topic, consumerGroup } = this.config.kafka;
    const [watermarks, committed] = await withDeadline(
      Promise.all([
        this.admin.fetchTopicOffsets(topic),
        this.admin.fetchOffsets({ groupId: consumerGroup, topics: [topic] }),
      ]),
      ADMIN_DEADLINE_MS,
      'Kafka consumer lag',
    );
    const committedByPartition = new Map(
      (committed[0]?.partitions ?? []).map((entry) => [entry.partition, BigInt(entry.offset)]),
    );
    return watermarks.map(({ partition, high, low }) => {
      const highWatermark = BigInt(high);
      const offset = committedByPartition.get(partition);
      // -1 means the group has not committed here yet: everything from the low watermark is lag.
      const position = offset === undefined || offset < 0n ? BigInt(low) : offset;
      return {
        partition,
        highWatermark,
        committed: offset === undefined || offset < 0n ? null : offset,
        lag: highWatermark - position,
      };
    });
  }
}
