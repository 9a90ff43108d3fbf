import { KafkaConfig as KafkaClientConfig, SASLOptions, logLevel } from 'kafkajs';
import { KafkaConfig } from '@libs/config';

/** kafkajs connection settings (brokers, TLS, SASL) shared by the producer, consumer and admin. */
export function kafkaClientConfig(kafka: KafkaConfig, clientIdSuffix = ''): KafkaClientConfig {
  return {
    clientId: `${kafka.clientId}${clientIdSuffix}`,
    brokers: kafka.brokers,
    ssl: kafka.ssl,
    sasl: saslOptions(kafka),
    logLevel: logLevel.WARN,
    // Backoff capped at 5 s (kafkajs: 30 s): once a broker is back, producers, consumers and
    // the admin reconnect within seconds. The budget (8 retries, about 20 s) ends before a
    // consumer crashes on a retriable error, which kafkajs then restarts, for as long as it takes.
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
  };
}

function saslOptions(kafka: KafkaConfig): SASLOptions | undefined {
  if (!kafka.sasl) return undefined;
  const { mechanism, username, password } = kafka.sasl;
  switch (mechanism) {
    case 'plain':
      return { mechanism: 'plain', username, password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password };
  }
}
