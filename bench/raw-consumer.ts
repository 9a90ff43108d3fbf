/**
 * The consumer half of the raw pipeline, run as its own process as the worker is: a bare kafkajs
 * consumer (autoCommit as by default) that POSTs every message as it is to the receiver over a
 * keep-alive agent. No database, no signing, no per-account ordering: the plainest pipeline, so
 * its rate is the ceiling that Kafka, Node's HTTP stack and this machine allow.
 *
 * Configured by the BENCH_RAW_* variables that bench/raw-pipeline.ts sets; stops on SIGTERM.
 */
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { Limiter } from './concurrency';
import { KeepAlivePoster } from './http-client';

interface RawConsumerConfig {
  brokers: string[];
  topic: string;
  groupId: string;
  target: URL;
  /** POSTs in flight at once, across all partitions: the worker's WORKER_CONCURRENCY. */
  concurrency: number;
  partitionsConsumedConcurrently: number;
}

function readConfig(): RawConsumerConfig {
  const variable = (name: string): string => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set (this process is started by npm run bench)`);
    return value;
  };
  return {
    brokers: variable('BENCH_RAW_BROKERS').split(','),
    topic: variable('BENCH_RAW_TOPIC'),
    groupId: variable('BENCH_RAW_GROUP'),
    target: new URL(variable('BENCH_RAW_TARGET')),
    concurrency: Number(variable('BENCH_RAW_CONCURRENCY')),
    partitionsConsumedConcurrently: Number(variable('BENCH_RAW_PARTITIONS_CONCURRENTLY')),
  };
}

async function main(): Promise<void> {
  const config = readConfig();
  const kafka = new Kafka({
    clientId: 'bench-raw-consumer',
    brokers: config.brokers,
    logLevel: logLevel.ERROR,
  });
  const consumer = kafka.consumer({ groupId: config.groupId });
  const poster = new KeepAlivePoster(config.target.origin, config.concurrency);
  const limiter = new Limiter(config.concurrency);

  const deliver = async (message: KafkaMessage): Promise<void> => {
    const body = message.value?.toString('utf8') ?? '';
    // The worker parses every event too; the id goes out as webhook-id for the duplicate check.
    const { id } = JSON.parse(body) as { id: string };
    const status = await poster.post(config.target.pathname, body, { 'webhook-id': id });
    if (status < 200 || status >= 300) throw new Error(`receiver answered ${status}`);
  };

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await consumer.disconnect().catch(() => undefined);
    poster.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());

  await consumer.connect();
  await consumer.subscribe({ topic: config.topic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
    eachBatch: async ({ batch }) => {
      // A failure fails the batch and kafkajs retries it: at-least-once, like the worker.
      await Promise.all(batch.messages.map((message) => limiter.run(() => deliver(message))));
    },
  });
}

main().catch((error: unknown) => {
  console.error(`[raw-consumer] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
