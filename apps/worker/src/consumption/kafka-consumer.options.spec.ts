import { loadConfig } from '@libs/config';
import { SAMPLE_ENVIRONMENT } from '@libs/testing';
import { kafkaServerOptions } from './kafka-consumer.options';

const config = loadConfig({ ...SAMPLE_ENVIRONMENT });

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
