import { ClientKafka } from '@nestjs/microservices';
import { randomUUID } from 'node:crypto';
import { Kafka, Partitioners } from 'kafkajs';
import { AppConfig, loadConfig } from '@libs/config';
import { WebhookEventMessage } from '@libs/contracts';
import { KafkaAdminService, kafkaClientConfig } from '@libs/messaging';
import { testEnvironment } from '@libs/testing';
import { KafkaEventPublisher, eventsProducerOptions } from './kafka-event.publisher';

function eventOf(accountId: string): WebhookEventMessage {
  return Object.assign(new WebhookEventMessage(), {
    id: randomUUID(),
    type: 'user.created',
    account_id: accountId,
    data: { n: 1 },
    timestamp: new Date().toISOString(),
  });
}

describe('KafkaEventPublisher (real Kafka)', () => {
  let config: AppConfig;
  let admin: KafkaAdminService;
  let client: ClientKafka;
  let publisher: KafkaEventPublisher;
  /** The topic exists already, with more partitions than KAFKA_TOPIC_PARTITIONS says. */
  let partitionCount: number;

  beforeAll(async () => {
    config = loadConfig(testEnvironment());
    partitionCount = config.kafka.topicPartitions + 2;
    const creator = new Kafka(kafkaClientConfig(config.kafka, '-test')).admin();
    await creator.connect();
    await creator.createTopics({
      topics: [{ topic: config.kafka.topic, numPartitions: partitionCount }],
      waitForLeaders: true,
    });
    await creator.disconnect();
    admin = new KafkaAdminService(config);
    await admin.onModuleInit();
    client = new ClientKafka(eventsProducerOptions(config));
    publisher = new KafkaEventPublisher(client, admin, config);
    await publisher.onApplicationBootstrap();
  });

  afterAll(async () => {
    await publisher?.onApplicationShutdown();
    await admin?.onModuleDestroy();
  });

  it('sends the events that arrive together in one produce request, each on its account’s partition', async () => {
    const events = Array.from({ length: 40 }, (_, i) => eventOf(`batch-${i}`));
    // Any Java client's choice: murmur2 of the key over the topic's real partition count.
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: partitionCount }, (_, id) => ({
      partitionId: id,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }));
    const expected = new Map<number, number>();
    for (const event of events) {
      const partition = partitioner({
        topic: config.kafka.topic,
        partitionMetadata,
        message: { key: event.account_id, value: null },
      });
      expected.set(partition, (expected.get(partition) ?? 0) + 1);
    }
    // The accounts cover every partition: per-partition batches would take a request each.
    expect(expected.size).toBe(partitionCount);
    const sends = jest.spyOn(client, 'emitBatch');

    await Promise.all(events.map((event) => publisher.publish(event)));

    // One broker leads every partition here: one request for all forty events.
    expect(sends.mock.calls.map(([, batch]) => batch.messages.length)).toEqual([40]);
    const reader = new Kafka(kafkaClientConfig(config.kafka, '-test')).admin();
    await reader.connect();
    try {
      const offsets = await reader.fetchTopicOffsets(config.kafka.topic);
      const stored = new Map(
        offsets
          .filter(({ high }) => Number(high) > 0)
          .map(({ partition, high }) => [partition, Number(high)]),
      );
      expect(stored).toEqual(expected);
    } finally {
      await reader.disconnect();
    }
  });
});
