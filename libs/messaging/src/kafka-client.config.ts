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
    retry: { initialRetryTime: 200, retries: 8 },
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
