import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { IHeaders, Kafka, KafkaMessage, Partitioners, Producer } from 'kafkajs';
import { AppConfig } from '@libs/config';
import { DEAD_LETTER_HEADERS, deadLetterTopic } from '@libs/contracts';
import { kafkaClientConfig } from '@libs/messaging';

export interface DeadLetterSource {
  topic: string;
  partition: number;
  message: KafkaMessage;
}

/**
 * Sets aside messages that are not events (or that the database refuses) on
 * `<topic>.dlq`: the original key, value and headers, plus headers naming the reason and the
 * source partition and offset. Producing them back onto the events topic re-drives them.
 */
@Injectable()
export class DeadLetterPublisher implements OnApplicationShutdown {
  private readonly producer: Producer;
  private connected: Promise<void> | null = null;

  constructor(config: AppConfig) {
    this.producer = new Kafka(kafkaClientConfig(config.kafka, '-dlq')).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      // Kafka's own retries are short here: the dispatcher retries for as long as it takes.
      retry: { initialRetryTime: 200, retries: 3 },
    });
  }

  /** Resolves once the dead-letter topic has the message (acks=all); throws otherwise. */
  async send(source: DeadLetterSource, code: string, reason: string): Promise<void> {
    this.connected ??= this.producer.connect().catch((error: unknown) => {
      this.connected = null;
      throw error;
    });
    await this.connected;
    const { message } = source;
    const headers: IHeaders = {
      ...message.headers,
      [DEAD_LETTER_HEADERS.reason]: reason.slice(0, 1000),
      [DEAD_LETTER_HEADERS.reasonCode]: code,
      [DEAD_LETTER_HEADERS.sourceTopic]: source.topic,
      [DEAD_LETTER_HEADERS.sourcePartition]: String(source.partition),
      [DEAD_LETTER_HEADERS.sourceOffset]: message.offset,
      [DEAD_LETTER_HEADERS.failedAt]: new Date().toISOString(),
    };
    const topic = deadLetterTopic(source.topic);
    try {
      await this.producer.send({
        topic,
        acks: -1,
        messages: [{ key: message.key, value: message.value, headers }],
      });
    } catch (error) {
      if (!isTooLarge(error)) throw error;
      // The message plus our headers no longer fits the topic's limit: set aside where it
      // came from and why, without its value (it stays readable at its source offset until
      // the topic's retention removes it). Otherwise it would block its partition for good.
      await this.producer.send({
        topic,
        acks: -1,
        messages: [
          {
            key: message.key,
            value: null,
            headers: { ...headers, [DEAD_LETTER_HEADERS.valueDropped]: 'too large' },
          },
        ],
      });
    }
  }

  /** After the dispatcher drained (beforeApplicationShutdown), which may still need it. */
  async onApplicationShutdown(): Promise<void> {
    if (this.connected !== null) await this.producer.disconnect();
  }
}

function isTooLarge(error: unknown): boolean {
  const type: unknown =
    typeof error === 'object' && error !== null ? Reflect.get(error, 'type') : undefined;
  return type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE';
}
