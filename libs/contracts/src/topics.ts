/** Kafka header names the api sets on every event message. */
export const EVENT_HEADERS = {
  eventType: 'event-type',
  contentType: 'content-type',
} as const;

/** Where the worker sets aside messages that are not events: `<topic>.dlq`. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** Headers of a dead-lettered message: why it was set aside and where it came from. */
export const DEAD_LETTER_HEADERS = {
  reason: 'dlq-reason',
  reasonCode: 'dlq-reason-code',
  sourceTopic: 'dlq-source-topic',
  sourcePartition: 'dlq-source-partition',
  sourceOffset: 'dlq-source-offset',
  failedAt: 'dlq-failed-at',
  /** Set when the original value did not fit on the dead-letter topic and was left out. */
  valueDropped: 'dlq-value-dropped',
} as const;
