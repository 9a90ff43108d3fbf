import { loadConfig } from '@libs/config';
import { kafkaServerOptions } from './kafka-consumer.options';

const config = loadConfig({
  KAFKA_BROKERS: 'kafka-1:9092',
  DATABASE_URL: 'postgres://user:secret@db:5432/webhooks',
  ADMIN_API_KEY: 'an-admin-key-of-some-length',
  ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
});

describe("the worker's Kafka consumer", () => {
  it('waits at most 500 ms in an idle fetch, so that stopping or rejoining is not held for 5 s', () => {
    // kafkajs stops (and rejoins) only once its fetch under way returns: an idle fetch waits
    // maxWaitTimeInMs, 5 s unless set.
    expect(kafkaServerOptions(config).consumer?.maxWaitTimeInMs).toBeLessThanOrEqual(500);
  });

  it('heartbeats every second: the group waits for each member to hear of a rebalance that way', () => {
    const { heartbeatInterval, sessionTimeout } = kafkaServerOptions(config).consumer ?? {};
    expect(heartbeatInterval).toBeLessThanOrEqual(1000);
    // Far inside the session: a busy worker is not evicted for a late heartbeat or two.
    expect(sessionTimeout).toBeGreaterThanOrEqual(10 * (heartbeatInterval ?? Infinity));
  });

  it('joins the group named by KAFKA_CONSUMER_GROUP and commits offsets itself', () => {
    const options = kafkaServerOptions(config);
    expect(options.consumer?.groupId).toBe('webhook-consumers');
    expect(options.postfixId).toBe('');
    expect(options.run?.autoCommit).toBe(false);
  });
});
