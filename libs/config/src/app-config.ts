import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  DEFAULT_RETRY_SCHEDULE_SECONDS,
  Environment,
  MAX_API_RATE_BURST,
  encryptionSchema,
  environmentSchema,
  missingEncryptionKey,
  modeRequirements,
} from './config.schema';
import { EncryptionConfig } from './encryption-keys';

export interface KafkaConfig {
  brokers: string[];
  topic: string;
  consumerGroup: string;
  topicPartitions: number;
  topicReplication: number;
  clientId: string;
  ssl: boolean;
  /** CA certificates (PEM) that the brokers' certificates must chain to; unset: Node's own CAs. */
  sslCa?: { file: string; pem: string };
  sasl?: KafkaSaslConfig;
}

export type KafkaSaslConfig =
  | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string }
  /** AWS MSK IAM: a token signed with the default AWS credential chain, sent as OAUTHBEARER. */
  | { mechanism: 'aws-msk-iam'; region: string };

/**
 * kafka: the api writes each event to the topic and the workers consume it. direct: the api
 * stores the event with its deliveries in Postgres and the workers take them from there, with
 * no Kafka at all. Workers of either mode deliver direct-mode events, so both can run at once.
 */
export type DeliveryMode = 'kafka' | 'direct';

export interface DeliveryConfig {
  mode: DeliveryMode;
  concurrency: number;
  timeoutMs: number;
  /** Wait before each attempt, in seconds; its length is the maximum number of attempts. */
  retryScheduleSeconds: number[];
  allowPrivateNetworks: boolean;
  /** How often each worker looks for due retries and manual attempts. */
  retryPollIntervalMs: number;
  /** A webhook failing for this long without a success, with at least `minAttempts`, is disabled. */
  failingWebhook: { disableAfterMs: number; minAttempts: number };
  /**
   * Kafka mode: a first attempt goes out before its event is stored, and the event is stored
   * with its outcome (docs/design-first-attempt-before-row.md). Off: stored first, then sent.
   */
  sendFirst: boolean;
}

export interface HttpConfig {
  apiPort: number;
  workerPort: number;
  adminApiKey: string;
  maxEventBytes: number;
  /** Requests each API key may make on /v1; undefined: unlimited. */
  rateLimits: { accountKey: ApiRateLimit | undefined; adminKey: ApiRateLimit | undefined };
}

/** A sustained rate and the most requests a key may send at once. */
export interface ApiRateLimit {
  perSecond: number;
  burst: number;
}

export interface DatabaseConfig {
  url: string;
  /**
   * Every connection plans each parameterised statement once (plan_cache_mode =
   * force_generic_plan, set when the connection opens). The worker's hot statements are few,
   * fixed and take arrays: left to choose, Postgres planned the one recording outcomes again
   * on every call (a third of its time), as a plan for the batch at hand looked cheaper than
   * the generic one. Its other statements (retention, metrics) keep their index plans. Under
   * PgBouncer's transaction pooling a session setting does not follow the client: the plans
   * are then Postgres's own choice again, which costs time but nothing else.
   */
  genericPlans: boolean;
}

/** The validated configuration, grouped by concern. Inject it with `@Inject(AppConfig)`. */
export class AppConfig {
  constructor(
    readonly kafka: KafkaConfig,
    readonly database: DatabaseConfig,
    readonly http: HttpConfig,
    readonly delivery: DeliveryConfig,
    /** Events, deliveries and attempts older than this are deleted. */
    readonly retention: { days: number },
    readonly logLevel: Environment['LOG_LEVEL'],
    /** Keys for webhook secrets and header values at rest. */
    readonly encryption: EncryptionConfig,
  ) {}
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type EnvironmentSource = Record<string, string | undefined>;

/**
 * Parses `raw` with `schema`; throws a ConfigError naming every bad variable, including those
 * `moreProblems` finds (settings that are only required together with others).
 */
function parseOrThrow<T>(
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  raw: EnvironmentSource,
  moreProblems: (raw: EnvironmentSource) => string[] = () => [],
): T {
  const result = schema.safeParse(raw);
  const issues = [...(result.success ? [] : result.error.issues), ...missingEncryptionKey(raw)];
  const problems = [
    ...issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`),
    ...moreProblems(raw),
  ];
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  return result.data;
}

/** Parses and validates the environment; throws a ConfigError naming every bad variable. */
export function loadConfig(source: EnvironmentSource = process.env): AppConfig {
  const env = parseOrThrow(environmentSchema, withoutBlanks(source), modeRequirements);
  const sslCa = env.KAFKA_SSL_CA_FILE ? readCaFile(env.KAFKA_SSL_CA_FILE) : undefined;
  return new AppConfig(
    {
      // Empty only in direct mode, where nothing connects to Kafka.
      brokers: env.KAFKA_BROKERS ?? [],
      topic: env.KAFKA_TOPIC,
      consumerGroup: env.KAFKA_CONSUMER_GROUP,
      topicPartitions: env.KAFKA_TOPIC_PARTITIONS,
      topicReplication: env.KAFKA_TOPIC_REPLICATION,
      clientId: env.KAFKA_CLIENT_ID,
      ssl: env.KAFKA_SSL,
      ...(sslCa ? { sslCa } : {}),
      sasl: saslConfig(env),
    },
    { url: env.DATABASE_URL, genericPlans: false },
    {
      apiPort: env.API_PORT,
      workerPort: env.WORKER_PORT,
      adminApiKey: env.ADMIN_API_KEY,
      maxEventBytes: env.MAX_EVENT_BYTES,
      rateLimits: {
        accountKey: apiRateLimit(env.API_RATE_LIMIT_PER_S, env.API_RATE_LIMIT_BURST),
        adminKey: apiRateLimit(env.ADMIN_API_RATE_LIMIT_PER_S, env.ADMIN_API_RATE_LIMIT_BURST),
      },
    },
    {
      mode: env.DELIVERY_MODE,
      concurrency: env.WORKER_CONCURRENCY,
      timeoutMs: env.DELIVERY_TIMEOUT_MS,
      retryScheduleSeconds: retrySchedule(env.RETRY_SCHEDULE, env.RETRY_MAX_ATTEMPTS),
      allowPrivateNetworks: env.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
      retryPollIntervalMs: env.RETRY_POLL_INTERVAL_MS,
      failingWebhook: {
        disableAfterMs: env.FAILING_WEBHOOK_DISABLE_AFTER_SECONDS * 1000,
        minAttempts: env.FAILING_WEBHOOK_MIN_ATTEMPTS,
      },
      sendFirst: env.DELIVERY_SEND_FIRST,
    },
    { days: env.RETENTION_DAYS },
    env.LOG_LEVEL,
    { keys: env.ENCRYPTION_KEYS, allowPlaintext: env.ENCRYPTION_ALLOW_PLAINTEXT },
  );
}

/** The same configuration, its database connections planning each statement once. */
export function withGenericPlans(config: AppConfig): AppConfig {
  return new AppConfig(
    config.kafka,
    { ...config.database, genericPlans: true },
    config.http,
    config.delivery,
    config.retention,
    config.logLevel,
    config.encryption,
  );
}

/**
 * ENCRYPTION_KEYS and ENCRYPTION_ALLOW_PLAINTEXT alone, validated as the apps validate them:
 * for the migrations and the re-encryption command, which need nothing else.
 */
export function loadEncryptionConfig(source: EnvironmentSource = process.env): EncryptionConfig {
  const env = parseOrThrow(encryptionSchema, withoutBlanks(source));
  return { keys: env.ENCRYPTION_KEYS, allowPlaintext: env.ENCRYPTION_ALLOW_PLAINTEXT };
}

function saslConfig(env: Environment): KafkaSaslConfig | undefined {
  const mechanism = env.KAFKA_SASL_MECHANISM;
  if (mechanism === 'aws-msk-iam') {
    return env.AWS_REGION ? { mechanism, region: env.AWS_REGION } : undefined;
  }
  if (mechanism && env.KAFKA_SASL_USERNAME && env.KAFKA_SASL_PASSWORD) {
    return { mechanism, username: env.KAFKA_SASL_USERNAME, password: env.KAFKA_SASL_PASSWORD };
  }
  return undefined;
}

/** 0 turns the limit off; an unset burst allows two seconds' worth of requests at once. */
function apiRateLimit(perSecond: number, burst: number | undefined): ApiRateLimit | undefined {
  if (perSecond === 0) return undefined;
  return { perSecond, burst: burst ?? Math.min(2 * perSecond, MAX_API_RATE_BURST) };
}

/**
 * Read once at start-up, so a missing or wrong file is a configuration error naming the
 * variable, not a TLS failure later.
 */
function readCaFile(file: string): { file: string; pem: string } {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError([`KAFKA_SSL_CA_FILE: cannot read ${file} (${code})`]);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError([
      `KAFKA_SSL_CA_FILE: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    ]);
  }
  return { file, pem };
}

/**
 * RETRY_MAX_ATTEMPTS trims the schedule or extends it by repeating its last gap;
 * 0 (the default) means "as many attempts as the schedule has entries".
 */
function retrySchedule(schedule: number[] | undefined, maxAttempts: number): number[] {
  const base = schedule && schedule.length > 0 ? schedule : DEFAULT_RETRY_SCHEDULE_SECONDS;
  if (maxAttempts === 0) return base;
  const last = base[base.length - 1];
  return Array.from({ length: maxAttempts }, (_, index) => base[index] ?? last);
}

/**
 * The Kafka topic is needed while decorators are evaluated (the worker's `@EventPattern`),
 * before the full configuration is loaded, so it can be read on its own.
 */
export function kafkaTopicFromEnvironment(source: EnvironmentSource = process.env): string {
  const topic = withoutBlanks(source).KAFKA_TOPIC ?? 'webhook-events';
  return environmentSchema.innerType().shape.KAFKA_TOPIC.parse(topic);
}

/** An empty variable (`FOO=`) means "not set", as in most twelve-factor services. */
function withoutBlanks(source: EnvironmentSource): EnvironmentSource {
  return Object.fromEntries(
    Object.entries(source).filter(([, value]) => value !== undefined && value !== ''),
  );
}
