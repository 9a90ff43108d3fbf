import { INestMicroservice } from '@nestjs/common';
import { CustomStrategy, KafkaOptions, ServerKafka } from '@nestjs/microservices';
import { Consumer, Kafka, Partitioners, Producer } from 'kafkajs';
import { AppConfig } from '@libs/config';
import { kafkaClientConfig } from '@libs/messaging';

/**
 * The Nest Kafka server, less one cost paid per message: to find the handler, Nest first tries
 * `JSON.parse` on the topic name, which for a plain name throws (and builds a stack trace)
 * on every message, a few percent of the worker's CPU under load. Plain names skip it.
 */
export class WorkerKafkaServer extends ServerKafka {
  protected override getRouteFromPattern(pattern: string): string {
    return pattern.startsWith('{')
      ? super.getRouteFromPattern(pattern)
      : this.normalizePattern(pattern);
  }
}

/** An idle fetch's wait for data: see `maxWaitTimeInMs` below. */
const FETCH_MAX_WAIT_MS = 500;
/** How often the consumer heartbeats: see `heartbeatInterval` below. */
const HEARTBEAT_INTERVAL_MS = 1000;

/** The Nest Kafka transport for the worker: one consumer group, offsets committed by hand. */
export function kafkaConsumerOptions(config: AppConfig): CustomStrategy {
  return { strategy: new WorkerKafkaServer(kafkaServerOptions(config)) };
}

export function kafkaServerOptions(config: AppConfig): NonNullable<KafkaOptions['options']> {
  return {
    client: kafkaClientConfig(config.kafka, '-worker'),
    // The group id seen by kafka-consumer-groups is exactly KAFKA_CONSUMER_GROUP.
    postfixId: '',
    consumer: {
      groupId: config.kafka.consumerGroup,
      sessionTimeout: 30_000,
      // A member learns that the group is rebalancing from a heartbeat's answer, and the group
      // waits for every member to rejoin: with kafkajs's 3 s, each change of the group paused
      // deliveries for 2.7-3.1 s; with 1 s, 1.1-2.1 s (join/leave fault test). One small
      // request a second per worker. A handler waiting for a dependency heartbeats as often.
      heartbeatInterval: HEARTBEAT_INTERVAL_MS,
      rebalanceTimeout: 60_000,
      allowAutoTopicCreation: false,
      // Fetches sized for memory (kafkajs's defaults are 10 MB and 1 MB): a fetch still
      // returns a message larger than the limit on its own, and events are stored within
      // milliseconds, so larger fetches would only fill the heap.
      maxBytes: 4 * 1024 * 1024,
      maxBytesPerPartition: 512 * 1024,
      // How long an idle fetch waits for data (kafkajs's default is 5 s; Kafka's own consumer
      // waits 500 ms). A consumer that is stopping, or that must rejoin a rebalancing group,
      // first waits for its fetch under way: with 5 s, a graceful leave took up to 5 s, and
      // each change of the group paused its accounts for up to 5 s more.
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    },
    // The transport also opens a producer, unused here; the partitioner only silences its warning.
    producer: { createPartitioner: Partitioners.DefaultPartitioner },
    subscribe: { fromBeginning: true },
    run: { autoCommit: false, partitionsConsumedConcurrently: 4 },
    // Keep values as bytes: the worker parses and validates them itself.
    parser: { keepBinary: true },
  };
}

/**
 * kafkajs restarts its consumer after a crash with a retriable cause (a broker that is down
 * or restarting, a coordinator that moved: the outage case, which test/kafka-outage covers)
 * and leaves it stopped after any other (authorization refused, a handler error it cannot
 * classify). A worker whose consumer stopped still answers HTTP and looks alive while it
 * consumes nothing, so such a crash is handed to `onFatal`, which stops the process and lets
 * its supervisor start a fresh one. Call once the microservice is listening.
 */
export function onUnrecoverableConsumerCrash(
  microservice: INestMicroservice,
  onFatal: (error: Error) => void,
): void {
  const [, consumer] = microservice.unwrap<[Kafka, Consumer, Producer]>();
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) onFatal(payload.error);
  });
}
