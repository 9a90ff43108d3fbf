import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import { KafkaConfig } from '@libs/config';
import { explainKafkaAccessFailure } from './kafka-access';
import { MskIamTokenError } from './msk-iam-token.provider';

const base: KafkaConfig = {
  brokers: ['b-1.kafka.internal:9096'],
  topic: 'webhook-events',
  consumerGroup: 'webhook-consumers',
  topicPartitions: 10,
  topicReplication: 3,
  clientId: 'kafka-webhooks',
  ssl: true,
};
const scram: KafkaConfig = {
  ...base,
  sasl: { mechanism: 'scram-sha-512', username: 'webhooks', password: 'wrong' },
};
const withCa: KafkaConfig = { ...scram, sslCa: { file: '/etc/kafka/ca.pem', pem: '' } };
const msk: KafkaConfig = { ...base, sasl: { mechanism: 'aws-msk-iam', region: 'eu-west-1' } };

/** kafkajs's SASL errors carry no typed constructor message; the name is what identifies them. */
function saslError(message: string): Error {
  return Object.assign(new Error(message), { name: 'KafkaJSSASLAuthenticationError' });
}

/** What kafkajs throws after its retries: the last connection error, wrapped. */
function afterRetries(code: string, message: string): Error {
  const connection = new KafkaJSConnectionError(`Connection error: ${message}`, {
    broker: 'b-1.kafka.internal:9096',
    code,
  });
  return new KafkaJSNumberOfRetriesExceeded(connection, { retryCount: 2, retryTime: 400 });
}

describe('explainKafkaAccessFailure', () => {
  it.each<[string, unknown, KafkaConfig, string | undefined, RegExp | undefined]>([
    [
      'a refused SCRAM password',
      saslError('SASL SCRAM SHA512 authentication failed, Authentication failed'),
      scram,
      'KAFKA_SASL_PASSWORD',
      /^KAFKA_SASL_PASSWORD rejected by the broker \(SASL authentication failed\) for KAFKA_SASL_USERNAME=webhooks, mechanism scram-sha-512/,
    ],
    [
      'a mechanism the listener does not offer',
      saslError('SASL SCRAM-SHA-512 mechanism is not supported by the server'),
      scram,
      'KAFKA_SASL_MECHANISM',
      /^KAFKA_SASL_MECHANISM=scram-sha-512 is not enabled on the broker's listener/,
    ],
    [
      'a refused IAM token',
      saslError('SASL OAUTHBEARER authentication failed: Access denied'),
      msk,
      'AWS_REGION',
      /AWS IAM token was rejected by the broker .*kafka-cluster:Connect.*AWS_REGION=eu-west-1/,
    ],
    [
      'no AWS credentials to sign with',
      new MskIamTokenError('eu-west-1', 'Could not load credentials from any providers'),
      msk,
      'AWS_REGION',
      /^AWS credentials: could not sign an AWS MSK IAM token for AWS_REGION=eu-west-1: Could not load credentials/,
    ],
    [
      'a certificate from a CA the CA file does not hold',
      afterRetries('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
      withCa,
      'KAFKA_SSL_CA_FILE',
      /^KAFKA_SSL_CA_FILE \(\/etc\/kafka\/ca\.pem\) does not trust the broker's certificate \(self-signed certificate in certificate chain\)$/,
    ],
    [
      'a private CA without a CA file',
      afterRetries('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'),
      scram,
      'KAFKA_SSL_CA_FILE',
      /^KAFKA_SSL_CA_FILE \(not set: Node's bundled CAs\) does not trust/,
    ],
    [
      'a host name the certificate is not for',
      afterRetries(
        'ERR_TLS_CERT_ALTNAME_INVALID',
        "Hostname/IP does not match certificate's altnames",
      ),
      scram,
      'KAFKA_BROKERS',
      /^KAFKA_BROKERS names a host the broker's certificate is not for/,
    ],
    [
      'TLS against a plaintext listener',
      afterRetries('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'),
      scram,
      'KAFKA_SSL',
      /^KAFKA_SSL=true but the broker's listener does not speak TLS/,
    ],
    [
      'no broker answering (an outage, not a setting)',
      afterRetries('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:9096'),
      scram,
      undefined,
      undefined,
    ],
    ['a timeout', new KafkaJSConnectionError('Connection timeout'), scram, undefined, undefined],
    ['something that is not an error', 'boom', scram, undefined, undefined],
  ])('%s', (_what, error, kafka, setting, message) => {
    const problem = explainKafkaAccessFailure(error, kafka);
    expect(problem?.setting).toBe(setting);
    if (message) expect(problem?.message).toMatch(message);
    // One line: it is logged as one.
    expect(problem?.message ?? '').not.toContain('\n');
  });
});
