import { randomUUID } from 'node:crypto';
import { loadEncryptionConfig } from '@libs/config';
import { FieldCipher, WebhookCredentials } from '@libs/secrets';

/** The admin key every test app runs with. */
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789';

export type DeliveryModeName = 'kafka' | 'direct';

/** ENCRYPTION_KEYS of every test app and of the test run's migrations. */
export const TEST_ENCRYPTION_KEYS = 'test-1:Vkr8U96fe8J5+I64sSb1bK5+48qe/XfZkR3/At/JCNM=';

/** Webhook credentials sealed and opened as the test apps do, for tests that write rows. */
export function testWebhookCredentials(encryptionKeys = TEST_ENCRYPTION_KEYS): WebhookCredentials {
  const encryption = loadEncryptionConfig({ ENCRYPTION_KEYS: encryptionKeys });
  return new WebhookCredentials(new FieldCipher(encryption));
}

/**
 * A complete, valid environment with nothing behind it: for unit tests that need an AppConfig
 * (options, manifests) and start nothing.
 */
export const SAMPLE_ENVIRONMENT: Readonly<Record<string, string>> = {
  KAFKA_BROKERS: 'kafka:9092',
  DATABASE_URL: 'postgres://db/webhooks',
  ADMIN_API_KEY: 'an-admin-key-of-some-length',
  ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
};

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
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
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
    // The whole suite can run with first attempts sent before their rows.
    ...(process.env.DELIVERY_SEND_FIRST
      ? { DELIVERY_SEND_FIRST: process.env.DELIVERY_SEND_FIRST }
      : {}),
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
