/**
 * A broker warmed up before anything is measured. A freshly started broker is a cold JVM:
 * until its JIT has compiled the produce and fetch paths, each request costs it several
 * times the CPU it costs later (measured on this project's 2-core machine: 1.3 ms of broker
 * CPU per single-event produce request in the first five seconds, 0.3 ms after about
 * twenty). A deployed broker has long been warm, so the run first gives it the traffic its
 * phases make (single-event produce requests with acks=all from concurrent senders, and a
 * consumer group reading and committing them) in rounds, until a round gets no more requests
 * through than the best one before: on a broker that is already warm, that is three rounds.
 */
import { performance } from 'node:perf_hooks';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { createTopic } from './raw-pipeline';

/** The traffic runs in rounds of this length until a round is no faster than the best before. */
const ROUND_MS = 4_000;
/** A round at most this much faster than the best before counts as no faster (noise). */
const PLATEAU = 1.05;
/** At least this many rounds: one slow round (a noisy machine) must not end a cold start. */
const MIN_ROUNDS = 3;
const MAX_ROUNDS = 10;
const SENDERS = 32;
const PARTITIONS = 10;
const COMMIT_EVERY = 100;

/**
 * Resolves with the produce requests answered in each round, once a round was no faster than
 * the best one before it (at least MIN_ROUNDS, at most MAX_ROUNDS); the topic is left for the
 * run's cleanup.
 */
export async function warmUpBroker(
  brokers: string,
  topic: string,
  groupId: string,
): Promise<number[]> {
  const kafka = new Kafka({
    clientId: 'bench-warm-up',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  await createTopic(kafka, topic, PARTITIONS);
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  const consumer = kafka.consumer({ groupId });
  await Promise.all([producer.connect(), consumer.connect()]);
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let read = 0;
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        read += 1;
        if (read % COMMIT_EVERY === 0) {
          const offset = (BigInt(message.offset) + 1n).toString();
          await consumer.commitOffsets([{ topic, partition, offset }]);
        }
      },
    });
    const value = JSON.stringify({ warm_up: true, padding: 'x'.repeat(200) });
    const round = async (): Promise<number> => {
      const until = performance.now() + ROUND_MS;
      let sent = 0;
      const sender = async (index: number) => {
        for (let n = 0; performance.now() < until; n += 1) {
          await producer.send({
            topic,
            acks: -1,
            messages: [{ key: `warm-up-${index}-${n % 10}`, value }],
          });
          sent += 1;
        }
      };
      await Promise.all(Array.from({ length: SENDERS }, (_, index) => sender(index)));
      return sent;
    };
    const rounds: number[] = [];
    while (rounds.length < MAX_ROUNDS) {
      const best = Math.max(0, ...rounds);
      const sent = await round();
      rounds.push(sent);
      if (rounds.length >= MIN_ROUNDS && sent <= best * PLATEAU) break;
    }
    return rounds;
  } finally {
    await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
  }
}
