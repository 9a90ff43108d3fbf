import { Kafka, logLevel } from 'kafkajs';
import { KafkaConfig } from '@libs/config';
import { kafkaClientConfig } from './kafka-client.config';
import { MskIamTokenError } from './msk-iam-token.provider';

/** The brokers refused this configuration: restarting will not help, changing a setting will. */
export interface KafkaAccessProblem {
  /** The environment variable to look at. */
  setting: string;
  /** One line for the operator, naming the setting and the broker's or TLS's reason. */
  message: string;
}

// Node's codes for a certificate chain that does not lead to a trusted CA.
const UNTRUSTED_CERTIFICATE = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
// A TLS client met a listener that answered in plaintext.
const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO']);

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  cause?: unknown;
  originalError?: unknown;
}

/**
 * Sorts a failure to connect into a configuration the brokers refuse (a problem naming the
 * setting) or anything else (undefined: an outage, which retries and restarts can outlive).
 */
export function explainKafkaAccessFailure(
  error: unknown,
  kafka: KafkaConfig,
): KafkaAccessProblem | undefined {
  for (const link of causeChain(error)) {
    if (link instanceof MskIamTokenError) {
      return { setting: 'AWS_REGION', message: `AWS credentials: ${link.message}` };
    }
    if (link.name === 'KafkaJSSASLAuthenticationError') return saslProblem(link, kafka);
    const code = link.code ?? '';
    if (UNTRUSTED_CERTIFICATE.has(code)) {
      const trusted = kafka.sslCa
        ? `KAFKA_SSL_CA_FILE (${kafka.sslCa.file})`
        : "KAFKA_SSL_CA_FILE (not set: Node's bundled CAs)";
      return {
        setting: 'KAFKA_SSL_CA_FILE',
        message: `${trusted} does not trust the broker's certificate (${tlsReason(link)})`,
      };
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return {
        setting: 'KAFKA_BROKERS',
        message: `KAFKA_BROKERS names a host the broker's certificate is not for (${tlsReason(link)})`,
      };
    }
    if (NOT_TLS.has(code)) {
      return {
        setting: 'KAFKA_SSL',
        message: `KAFKA_SSL=true but the broker's listener does not speak TLS (${tlsReason(link)})`,
      };
    }
  }
  return undefined;
}

function saslProblem(error: ErrorLike, kafka: KafkaConfig): KafkaAccessProblem {
  const reason = error.message ?? 'SASL authentication failed';
  const mechanism = kafka.sasl?.mechanism;
  if (/mechanism is not supported/i.test(reason)) {
    return {
      setting: 'KAFKA_SASL_MECHANISM',
      message: `KAFKA_SASL_MECHANISM=${mechanism} is not enabled on the broker's listener (${reason})`,
    };
  }
  if (kafka.sasl?.mechanism === 'aws-msk-iam') {
    return {
      setting: 'AWS_REGION',
      message:
        'the AWS IAM token was rejected by the broker (SASL authentication failed): check the ' +
        `role the AWS credential chain finds, its kafka-cluster:Connect permission and AWS_REGION=${kafka.sasl.region} (${reason})`,
    };
  }
  const user = kafka.sasl && 'username' in kafka.sasl ? kafka.sasl.username : '';
  return {
    setting: 'KAFKA_SASL_PASSWORD',
    message:
      `KAFKA_SASL_PASSWORD rejected by the broker (SASL authentication failed) for ` +
      `KAFKA_SASL_USERNAME=${user}, mechanism ${mechanism} (${reason})`,
  };
}

function tlsReason(error: ErrorLike): string {
  return (error.message ?? error.code ?? 'TLS failure').replace(/^Connection error: /, '');
}

function causeChain(error: unknown): ErrorLike[] {
  const chain: ErrorLike[] = [];
  let current: unknown = error;
  while (current && typeof current === 'object' && chain.length < 10) {
    const link = current as ErrorLike;
    chain.push(link);
    current = link.cause ?? link.originalError;
  }
  return chain;
}

/**
 * Connects once, as the apps will, and reports a configuration the brokers refuse. An outage
 * (no broker answers) is not reported here: the apps' own retries deal with that.
 */
export async function checkKafkaAccess(
  kafka: KafkaConfig,
): Promise<KafkaAccessProblem | undefined> {
  const admin = new Kafka({
    ...kafkaClientConfig(kafka, '-probe'),
    // Quiet and quick: this probe reports what it finds in one line of its own.
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 200, retries: 2 },
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return undefined;
  } catch (error) {
    return explainKafkaAccessFailure(error, kafka);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
