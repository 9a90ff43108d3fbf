import { randomUUID } from 'node:crypto';

/** The admin key every test app runs with. */
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789';

export type DeliveryModeName = 'kafka' | 'direct';

/**
 * Environment for apps started by one test file: the run's broker and database (set by
 * scripts/run-tests.ts), and a topic and consumer group of its own so test files never
 * see each other's messages. In direct mode the apps get no Kafka setting at all, as on a
 * machine without a broker.
 */
export function testEnvironment(
  overrides: Record<string, string> = {},
  mode: DeliveryModeName = 'kafka',
): Record<string, string> {
  const common = {
    DATABASE_URL: requiredVariable('DATABASE_URL'),
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    DELIVERY_TIMEOUT_MS: '3000',
  };
  if (mode === 'direct') return { ...common, DELIVERY_MODE: 'direct', ...overrides };
  const suffix = randomUUID().slice(0, 8);
  return {
    ...common,
    KAFKA_BROKERS: requiredVariable('KAFKA_BROKERS'),
    KAFKA_TOPIC: `test-events-${suffix}`,
    KAFKA_CONSUMER_GROUP: `test-group-${suffix}`,
    KAFKA_TOPIC_PARTITIONS: '4',
    ...overrides,
  };
}

/** The same apps' environment in direct mode: same database, every Kafka setting gone. */
export function directModeEnvironment(env: Record<string, string>): Record<string, string> {
  const withoutKafka = Object.entries(env).filter(([name]) => !name.startsWith('KAFKA_'));
  return { ...Object.fromEntries(withoutKafka), DELIVERY_MODE: 'direct' };
}

export function requiredVariable(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the tests with "npm test", which starts Kafka and Postgres`,
    );
  }
  return value;
}

/** A fresh account id, so tests sharing the database never see each other's rows. */
export function uniqueAccountId(label = 'account'): string {
  return `${label}-${randomUUID()}`;
}
