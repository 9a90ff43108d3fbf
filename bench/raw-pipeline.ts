/**
 * The raw limit: the same events through the plainest pipeline, in the same run on the same
 * machine. A bare kafkajs producer writes them to a fresh topic; then bench/raw-consumer.ts,
 * in a process of its own, POSTs each one to the receiver.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { repoRoot } from '../scripts/infra/local';
import { type Cleanup, stopChild } from '../scripts/infra/process';
import type { BenchEvent } from './events';

/** The worker's Kafka transport consumes this many partitions at once; the raw consumer too. */
export const PARTITIONS_CONSUMED_CONCURRENTLY = 4;
const PRODUCE_CHUNK = 500;
const CONSUMER_STOP_GRACE_MS = 10_000;
const RAW_CONSUMER_SCRIPT = path.join(__dirname, 'raw-consumer.ts');

export interface RawConsumerSettings {
  brokers: string;
  topic: string;
  groupId: string;
  /** POSTs in flight at once: the worker's WORKER_CONCURRENCY. */
  concurrency: number;
  /** Where the consumer POSTs. */
  targetUrl: string;
}

/**
 * Creates the topic and writes the events to it; resolves with how long the writes took.
 * Everything is in Kafka before the consumer starts, so the consumer drains a backlog.
 */
export async function produceRaw(
  brokers: string,
  topic: string,
  partitions: number,
  events: BenchEvent[],
): Promise<number> {
  const kafka = new Kafka({
    clientId: 'bench-raw-producer',
    brokers: brokers.split(','),
    // kafkajs logs retriable errors (a coordinator still loading on a fresh broker) as errors;
    // a failure that matters rejects the send and stops the run anyway.
    logLevel: logLevel.NOTHING,
  });
  await createTopic(kafka, topic, partitions);
  return produce(kafka, topic, events);
}

/** Starts the consumer process; it runs until stopped (its stop is registered for cleanup). */
export function startRawConsumer(settings: RawConsumerSettings, cleanup: Cleanup): ChildProcess {
  const consumer = spawn(process.execPath, ['--import', 'tsx', RAW_CONSUMER_SCRIPT], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      BENCH_RAW_BROKERS: settings.brokers,
      BENCH_RAW_TOPIC: settings.topic,
      BENCH_RAW_GROUP: settings.groupId,
      BENCH_RAW_TARGET: settings.targetUrl,
      BENCH_RAW_CONCURRENCY: String(settings.concurrency),
      BENCH_RAW_PARTITIONS_CONCURRENTLY: String(PARTITIONS_CONSUMED_CONCURRENTLY),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  cleanup.add(() => stopRawConsumer(consumer));
  return consumer;
}

export function stopRawConsumer(consumer: ChildProcess): Promise<void> {
  return stopChild(consumer, CONSUMER_STOP_GRACE_MS);
}

/** Creates the topic and waits for its partitions' leaders. */
export async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/** Writes the events as the api does (key account_id, same value and headers, acks=all). */
async function produce(kafka: Kafka, topic: string, events: BenchEvent[]): Promise<number> {
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    // On a topic created a moment ago a partition may still answer "not the leader"; kafkajs
    // then resends the whole request, and without idempotence the other partitions' messages
    // would be written twice and delivered twice.
    idempotent: true,
  });
  await producer.connect();
  const started = performance.now();
  try {
    for (let i = 0; i < events.length; i += PRODUCE_CHUNK) {
      await producer.send({
        topic,
        acks: -1,
        messages: events.slice(i, i + PRODUCE_CHUNK).map((event) => ({
          key: event.account_id,
          value: JSON.stringify(event),
          headers: { 'event-type': event.type, 'content-type': 'application/json' },
        })),
      });
    }
    return performance.now() - started;
  } finally {
    await producer.disconnect();
  }
}
