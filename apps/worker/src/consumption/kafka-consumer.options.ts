import { KafkaOptions, Transport } from '@nestjs/microservices';
import { Partitioners } from 'kafkajs';
import { AppConfig } from '@libs/config';
import { kafkaClientConfig } from '@libs/messaging';

/** The Nest Kafka transport for the worker: one consumer group, offsets committed by hand. */
export function kafkaConsumerOptions(config: AppConfig): KafkaOptions {
  return {
    transport: Transport.KAFKA,
    options: {
      client: kafkaClientConfig(config.kafka, '-worker'),
      // The group id seen by kafka-consumer-groups is exactly KAFKA_CONSUMER_GROUP.
      postfixId: '',
      consumer: {
        groupId: config.kafka.consumerGroup,
        sessionTimeout: 30_000,
        heartbeatInterval: 3_000,
        rebalanceTimeout: 60_000,
        allowAutoTopicCreation: false,
      },
      // The transport also opens a producer, unused here; the partitioner only silences its warning.
      producer: { createPartitioner: Partitioners.DefaultPartitioner },
      subscribe: { fromBeginning: true },
      run: { autoCommit: false, partitionsConsumedConcurrently: 4 },
      // Keep values as bytes: the worker parses and validates them itself.
      parser: { keepBinary: true },
    },
  };
}
