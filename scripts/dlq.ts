/**
 * `npm run dlq -- inspect [--limit N]` prints what sits on the dead-letter topic: where each
 * message came from and why it was set aside.
 * `npm run dlq -- redrive [--limit N]` produces dead-lettered messages back onto the events
 * topic (same key, value and headers, without the dead-letter ones), for after a fix; the
 * worker validates them again, and what is still invalid comes back to the dead-letter topic.
 * It remembers how far it got in the consumer group `<KAFKA_CONSUMER_GROUP>.dlq-redrive`, so
 * each message is re-driven once. Configuration comes from the environment, as for the worker.
 */
import { IHeaders, Kafka, KafkaMessage, Partitioners } from 'kafkajs';
import { loadConfigOrExit } from '@libs/config';
import { DEAD_LETTER_HEADERS, deadLetterTopic } from '@libs/contracts';
import { kafkaClientConfig } from '@libs/messaging';

const DEAD_LETTER_HEADER_NAMES = new Set<string>(Object.values(DEAD_LETTER_HEADERS));
const IDLE_MS = 3000;

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const limitAt = rest.indexOf('--limit');
  const limit = limitAt >= 0 ? Number(rest[limitAt + 1]) : Number.POSITIVE_INFINITY;
  if ((command !== 'inspect' && command !== 'redrive') || !(limit > 0)) {
    console.error('usage: npm run dlq -- inspect|redrive [--limit N]');
    process.exit(2);
  }
  const config = loadConfigOrExit('worker');
  const kafka = new Kafka(kafkaClientConfig(config.kafka, '-dlq-tool'));
  const source = deadLetterTopic(config.kafka.topic);
  const redrive = command === 'redrive';
  const consumer = kafka.consumer({
    // Inspecting must not move anything: a throwaway group that always starts at the beginning.
    groupId: redrive
      ? `${config.kafka.consumerGroup}.dlq-redrive`
      : `${config.kafka.consumerGroup}.dlq-inspect-${process.pid}-${Date.now()}`,
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topic: source, fromBeginning: true });

  let handled = 0;
  let lastMessageAt = Date.now();
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    autoCommit: redrive,
    eachMessage: async ({ partition, message }) => {
      if (handled >= limit) return done();
      lastMessageAt = Date.now();
      handled += 1;
      if (redrive) {
        await producer.send({
          topic: config.kafka.topic,
          acks: -1,
          messages: [{ key: message.key, value: message.value, headers: originalHeaders(message) }],
        });
        console.log(`re-driven ${source}[${partition}]@${message.offset} (${describe(message)})`);
      } else {
        console.log(`${source}[${partition}]@${message.offset} ${describe(message)}`);
      }
      if (handled >= limit) done();
    },
  });
  const idle = setInterval(() => Date.now() - lastMessageAt > IDLE_MS && done(), 500);
  await finished;
  clearInterval(idle);
  await consumer.disconnect();
  await producer.disconnect();
  console.log(`${handled} message(s) ${redrive ? 're-driven' : 'on the dead-letter topic'}`);
}

function headerText(headers: IHeaders | undefined, name: string): string {
  const value = headers?.[name];
  return value === undefined ? '?' : String(value);
}

function describe(message: KafkaMessage): string {
  const h = message.headers;
  return (
    `from ${headerText(h, DEAD_LETTER_HEADERS.sourceTopic)}[${headerText(h, DEAD_LETTER_HEADERS.sourcePartition)}]` +
    `@${headerText(h, DEAD_LETTER_HEADERS.sourceOffset)} at ${headerText(h, DEAD_LETTER_HEADERS.failedAt)}: ` +
    `${headerText(h, DEAD_LETTER_HEADERS.reason)}; key ${message.key?.toString() ?? 'none'}, ` +
    `${message.value?.length ?? 0} bytes`
  );
}

function originalHeaders(message: KafkaMessage): IHeaders {
  return Object.fromEntries(
    Object.entries(message.headers ?? {}).filter(([name]) => !DEAD_LETTER_HEADER_NAMES.has(name)),
  );
}

main().catch((error: unknown) => {
  console.error(`dlq: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
