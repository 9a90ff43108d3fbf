import { z } from 'zod';
import { ENCRYPTION_KEYS_REQUIRED, encryptionKeyList } from './encryption-keys';

/**
 * Svix / Standard Webhooks schedule: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
 * Each entry is the wait before that attempt, so the first attempt goes out immediately.
 */
export const DEFAULT_RETRY_SCHEDULE_SECONDS = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

const boolean = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], {
      errorMap: () => ({ message: 'must be true or false' }),
    })
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true' || value === '1' || value === 'yes');

/** A whole number within [min, max], or an issue naming the bounds and what was given. */
const wholeNumber =
  (min: number, max: number) =>
  (value: string, ctx: z.RefinementCtx): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value.trim()) || parsed < min || parsed > max) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `must be a whole number from ${min} to ${max}, got "${value}"`,
      });
      return z.NEVER;
    }
    return parsed;
  };

const integer = (fallback: number, min: number, max: number) =>
  z.string().default(String(fallback)).transform(wholeNumber(min, max));

/** Unset stays undefined: for a setting whose default follows another variable. */
const optionalInteger = (min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) =>
      value === undefined ? undefined : wholeNumber(min, max)(value, ctx),
    );

/**
 * Bounds of the api's rate limits. The in-memory counter keeps one timestamp per request of the
 * burst and scans them on each request, so the burst stays in the thousands.
 */
export const MAX_API_RATE_PER_S = 100_000;
export const MAX_API_RATE_BURST = 10_000;

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value && value.trim() !== '' ? value.trim() : undefined));

const brokerList = z
  .string({ required_error: 'is required (comma-separated host:port list)' })
  .transform((value, ctx) => {
    const brokers = value
      .split(',')
      .map((broker) => broker.trim())
      .filter(Boolean);
    const invalid = brokers.filter((broker) => !/^[^\s:]+:\d{1,5}$/.test(broker));
    if (brokers.length === 0 || invalid.length > 0) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `must be a comma-separated list of host:port, got "${value}"`,
      });
      return z.NEVER;
    }
    return brokers;
  });

const secondsList = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value.trim() === '') return undefined;
    const entries = value.split(',').map((entry) => entry.trim());
    if (entries.some((entry) => !/^\d+(\.\d+)?$/.test(entry))) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `must be comma-separated seconds such as "0,5,300", got "${value}"`,
      });
      return z.NEVER;
    }
    return entries.map(Number);
  });

const topicName = z
  .string()
  .default('webhook-events')
  .refine((value) => /^[a-zA-Z0-9._-]{1,249}$/.test(value), {
    message: 'must be a Kafka topic name (letters, digits, ".", "_", "-")',
  });

/** Encryption at rest of webhook secrets and header values; also read by the migration tools. */
const encryptionVariables = {
  ENCRYPTION_KEYS: encryptionKeyList,
  ENCRYPTION_ALLOW_PLAINTEXT: boolean(false),
};

export const encryptionSchema = z.object(encryptionVariables);

/**
 * A key, or plaintext said out loud. Checked on the raw variables, apart from the schema, so
 * that a missing key is named together with every other missing variable.
 */
export function missingEncryptionKey(raw: Record<string, string | undefined>): z.ZodIssue[] {
  const allowPlaintext = encryptionVariables.ENCRYPTION_ALLOW_PLAINTEXT.safeParse(
    raw.ENCRYPTION_ALLOW_PLAINTEXT,
  );
  if (raw.ENCRYPTION_KEYS?.trim() || (allowPlaintext.success && allowPlaintext.data)) return [];
  return [
    { code: z.ZodIssueCode.custom, path: ['ENCRYPTION_KEYS'], message: ENCRYPTION_KEYS_REQUIRED },
  ];
}

/** Every environment variable the service reads, with its default. */
export const environmentSchema = z
  .object({
    /** Required in kafka mode; direct mode never reads it. */
    KAFKA_BROKERS: brokerList.optional(),
    KAFKA_TOPIC: topicName,
    KAFKA_CONSUMER_GROUP: z.string().min(1).default('webhook-consumers'),
    KAFKA_TOPIC_PARTITIONS: integer(10, 1, 10_000),
    KAFKA_TOPIC_REPLICATION: integer(1, 1, 32),
    KAFKA_CLIENT_ID: z.string().min(1).default('kafka-webhooks'),
    KAFKA_SSL: boolean(false),
    KAFKA_SSL_CA_FILE: optionalText,
    KAFKA_SASL_MECHANISM: z
      .enum(['plain', 'scram-sha-256', 'scram-sha-512', 'aws-msk-iam'], {
        errorMap: () => ({
          message: 'must be plain, scram-sha-256, scram-sha-512 or aws-msk-iam',
        }),
      })
      .optional(),
    KAFKA_SASL_USERNAME: optionalText,
    KAFKA_SASL_PASSWORD: optionalText,
    AWS_REGION: optionalText,
    DATABASE_URL: z
      .string({ required_error: 'is required (postgres://user:password@host:port/database)' })
      .refine((value) => /^postgres(ql)?:\/\/.+/.test(value), {
        message: 'must be a postgres:// connection URL',
      }),
    API_PORT: integer(3000, 0, 65535),
    WORKER_PORT: integer(3001, 0, 65535),
    ADMIN_API_KEY: z
      .string({ required_error: 'is required: the admin Bearer key for the /v1 API' })
      .min(16, { message: 'must be at least 16 characters' }),
    WORKER_CONCURRENCY: integer(10, 1, 1000),
    DELIVERY_TIMEOUT_MS: integer(10_000, 100, 300_000),
    RETRY_SCHEDULE: secondsList,
    RETRY_MAX_ATTEMPTS: integer(0, 0, 100),
    RETRY_POLL_INTERVAL_MS: integer(1000, 50, 60_000),
    FAILING_WEBHOOK_DISABLE_AFTER_SECONDS: integer(5 * 24 * 3600, 1, 365 * 24 * 3600),
    FAILING_WEBHOOK_MIN_ATTEMPTS: integer(10, 1, 100_000),
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: boolean(false),
    DELIVERY_SEND_FIRST: boolean(false),
    RETENTION_DAYS: integer(30, 1, 3650),
    MAX_EVENT_BYTES: integer(262_144, 1024, 10 * 1024 * 1024),
    // Requests per second per API key, 0 = unlimited; the burst defaults to twice the rate.
    API_RATE_LIMIT_PER_S: integer(100, 0, MAX_API_RATE_PER_S),
    API_RATE_LIMIT_BURST: optionalInteger(1, MAX_API_RATE_BURST),
    ADMIN_API_RATE_LIMIT_PER_S: integer(0, 0, MAX_API_RATE_PER_S),
    ADMIN_API_RATE_LIMIT_BURST: optionalInteger(1, MAX_API_RATE_BURST),
    DELIVERY_MODE: z
      .enum(['kafka', 'direct'], { errorMap: () => ({ message: 'must be kafka or direct' }) })
      .default('kafka'),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        errorMap: () => ({
          message: 'must be one of fatal, error, warn, info, debug, trace, silent',
        }),
      })
      .default('info'),
    ...encryptionVariables,
  })
  .superRefine((env, ctx) => {
    const problem = (name: string, message: string) =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [name], message });
    if (env.KAFKA_SASL_MECHANISM === 'aws-msk-iam') {
      // The IAM token is signed for one region; the credentials come from the AWS chain.
      if (!env.AWS_REGION)
        problem('AWS_REGION', 'is required when KAFKA_SASL_MECHANISM=aws-msk-iam');
      // MSK's IAM listener (port 9098) only speaks TLS.
      if (!env.KAFKA_SSL)
        problem('KAFKA_SSL', 'must be true when KAFKA_SASL_MECHANISM=aws-msk-iam');
    } else if (env.KAFKA_SASL_MECHANISM) {
      for (const name of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) {
        if (!env[name]) problem(name, 'is required when KAFKA_SASL_MECHANISM is set');
      }
    }
    for (const prefix of ['API', 'ADMIN_API'] as const) {
      const rate = env[`${prefix}_RATE_LIMIT_PER_S`];
      const burst = env[`${prefix}_RATE_LIMIT_BURST`];
      if (burst === undefined) continue;
      if (rate === 0) {
        problem(
          `${prefix}_RATE_LIMIT_BURST`,
          `is set but ${prefix}_RATE_LIMIT_PER_S is 0 (unlimited): set a rate or unset the burst`,
        );
      } else if (burst * 1000 < rate) {
        // The burst is counted in a window of burst / rate seconds, which the counter keeps in ms.
        problem(
          `${prefix}_RATE_LIMIT_BURST`,
          `must be at least ${prefix}_RATE_LIMIT_PER_S / 1000 (${Math.ceil(rate / 1000)})`,
        );
      }
    }
    if (env.KAFKA_SSL_CA_FILE && !env.KAFKA_SSL) {
      problem('KAFKA_SSL_CA_FILE', 'is set but KAFKA_SSL is false: set KAFKA_SSL=true');
    }
  });

export type Environment = z.infer<typeof environmentSchema>;

/**
 * Variables required only in some mode. Checked apart from the schema, whose refinements do
 * not run while another variable is invalid: every missing one is named at once.
 */
export function modeRequirements(env: Record<string, string | undefined>): string[] {
  const kafkaMode = env.DELIVERY_MODE === undefined || env.DELIVERY_MODE === 'kafka';
  return kafkaMode && env.KAFKA_BROKERS === undefined
    ? ['KAFKA_BROKERS: is required (comma-separated host:port list) unless DELIVERY_MODE=direct']
    : [];
}
