/** Kafka header names the api sets on every event message. */
export const EVENT_HEADERS = {
  eventType: 'event-type',
  contentType: 'content-type',
} as const;
