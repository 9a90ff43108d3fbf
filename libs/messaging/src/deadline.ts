/** A Kafka call that outlived the time the caller could wait for it. */
export class DeadlineExceededError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * Settles like `work`, or rejects with DeadlineExceededError after `ms`. kafkajs retries a
 * broker that is down for up to a minute (its retriers nest: the producer's around the
 * cluster's), and a broker that stopped answering holds a request until requestTimeout;
 * an HTTP caller or a health probe must hear "unavailable" long before that. The work
 * itself is not cancelled (kafkajs cannot), only no longer waited for.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceededError(what, ms)), ms);
  });
  // A late rejection of the abandoned work must not surface as an unhandled rejection.
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
