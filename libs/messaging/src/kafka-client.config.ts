import { KafkaConfig as KafkaClientConfig, SASLOptions, logLevel } from 'kafkajs';
import { KafkaConfig } from '@libs/config';
import { MskIamTokenProviderOptions, mskIamTokenProvider } from './msk-iam-token.provider';

/** kafkajs connection settings (brokers, TLS, SASL) shared by the producer, consumer and admin. */
export function kafkaClientConfig(
  kafka: KafkaConfig,
  clientIdSuffix = '',
  mskIam: MskIamTokenProviderOptions = {},
): KafkaClientConfig {
  return {
    clientId: `${kafka.clientId}${clientIdSuffix}`,
    brokers: kafka.brokers,
    // `ca` replaces Node's bundled CAs: a private CA's brokers are trusted, nothing else.
    ssl: kafka.ssl && kafka.sslCa ? { ca: [kafka.sslCa.pem] } : kafka.ssl,
    sasl: saslOptions(kafka, mskIam),
    logLevel: logLevel.WARN,
    // Backoff capped at 5 s (kafkajs: 30 s): once a broker is back, producers, consumers and
    // the admin reconnect within seconds. The budget (8 retries, about 20 s) ends before a
    // consumer crashes on a retriable error, which kafkajs then restarts, for as long as it takes.
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
  };
}

function saslOptions(
  kafka: KafkaConfig,
  mskIam: MskIamTokenProviderOptions,
): SASLOptions | undefined {
  const sasl = kafka.sasl;
  if (!sasl) return undefined;
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username: sasl.username, password: sasl.password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password };
    case 'aws-msk-iam':
      // MSK takes its IAM token through the standard OAUTHBEARER exchange (AWS's signer docs).
      return {
        mechanism: 'oauthbearer',
        oauthBearerProvider: mskIamTokenProvider(sasl.region, mskIam),
      };
  }
}
