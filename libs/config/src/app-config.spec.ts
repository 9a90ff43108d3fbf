import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, DEFAULT_RETRY_SCHEDULE_SECONDS, loadConfig, loadEncryptionConfig } from '.';

const required = {
  KAFKA_BROKERS: 'kafka-1:9092, kafka-2:9092',
  DATABASE_URL: 'postgres://user:secret@db:5432/webhooks',
  ADMIN_API_KEY: 'an-admin-key-of-some-length',
  ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(required);
    expect(config.kafka).toEqual({
      brokers: ['kafka-1:9092', 'kafka-2:9092'],
      topic: 'webhook-events',
      consumerGroup: 'webhook-consumers',
      topicPartitions: 10,
      topicReplication: 1,
      clientId: 'kafka-webhooks',
      ssl: false,
      sasl: undefined,
    });
    expect(config.http).toEqual({
      apiPort: 3000,
      workerPort: 3001,
      adminApiKey: required.ADMIN_API_KEY,
      maxEventBytes: 262_144,
      rateLimits: { accountKey: { perSecond: 100, burst: 200 }, adminKey: undefined },
    });
    expect(config.delivery).toEqual({
      mode: 'kafka',
      concurrency: 10,
      timeoutMs: 10_000,
      retryScheduleSeconds: DEFAULT_RETRY_SCHEDULE_SECONDS,
      allowPrivateNetworks: false,
      retryPollIntervalMs: 1000,
      failingWebhook: { disableAfterMs: 5 * 24 * 3600 * 1000, minAttempts: 10 },
      sendFirst: false,
    });
  });

  it('names every missing required variable at once', () => {
    const problems = problemsOf({});
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/ENCRYPTION_KEYS: is required/);
    expect(problems.join('\n')).toMatch(/KAFKA_BROKERS: is required/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL: is required/);
    expect(problems.join('\n')).toMatch(/ADMIN_API_KEY: is required/);
  });

  describe('DELIVERY_MODE', () => {
    const { KAFKA_BROKERS: _brokers, ...withoutKafka } = required;

    it('runs without any Kafka setting in direct mode', () => {
      const config = loadConfig({ ...withoutKafka, DELIVERY_MODE: 'direct' });
      expect(config.delivery.mode).toBe('direct');
      expect(config.kafka.brokers).toEqual([]);
    });

    it('still requires KAFKA_BROKERS in kafka mode, said or by default', () => {
      const modes: Record<string, string>[] = [{}, { DELIVERY_MODE: 'kafka' }];
      for (const mode of modes) {
        expect(problemsOf({ ...withoutKafka, ...mode })).toEqual([
          'KAFKA_BROKERS: is required (comma-separated host:port list) unless DELIVERY_MODE=direct',
        ]);
      }
    });

    it('refuses an unknown mode and still names a missing KAFKA_BROKERS beside it', () => {
      expect(problemsOf({ ...required, DELIVERY_MODE: 'http' })).toEqual([
        'DELIVERY_MODE: must be kafka or direct',
      ]);
      expect(problemsOf({ ...withoutKafka, API_PORT: 'x' }).map((p) => p.split(':')[0])).toEqual([
        'API_PORT',
        'KAFKA_BROKERS',
      ]);
    });
  });

  it('names each invalid variable with what is wrong', () => {
    const problems = problemsOf({
      ...required,
      KAFKA_BROKERS: 'not a broker',
      API_PORT: 'eighty',
      WORKER_CONCURRENCY: '0',
      KAFKA_SSL: 'maybe',
      RETRY_SCHEDULE: '1,two,3',
      KAFKA_SASL_MECHANISM: 'kerberos',
      DATABASE_URL: 'mysql://db/x',
      ADMIN_API_KEY: 'short',
    });
    const byVariable = problems.map((problem) => problem.split(':')[0]).sort();
    expect(byVariable).toEqual([
      'ADMIN_API_KEY',
      'API_PORT',
      'DATABASE_URL',
      'KAFKA_BROKERS',
      'KAFKA_SASL_MECHANISM',
      'KAFKA_SSL',
      'RETRY_SCHEDULE',
      'WORKER_CONCURRENCY',
    ]);
  });

  it('requires SASL credentials with a SASL mechanism', () => {
    expect(problemsOf({ ...required, KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toEqual([
      'KAFKA_SASL_USERNAME: is required when KAFKA_SASL_MECHANISM is set',
      'KAFKA_SASL_PASSWORD: is required when KAFKA_SASL_MECHANISM is set',
    ]);
    const config = loadConfig({
      ...required,
      KAFKA_SSL: 'true',
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'pw',
    });
    expect(config.kafka.ssl).toBe(true);
    expect(config.kafka.sasl).toEqual({ mechanism: 'plain', username: 'svc', password: 'pw' });
  });

  describe('TLS and SASL', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'config-spec-'));
    const caFile = path.join(dir, 'ca.pem');
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    writeFileSync(caFile, pem);
    const notPem = path.join(dir, 'key.txt');
    writeFileSync(notPem, 'just text');

    it('reads the CA file once, at start-up', () => {
      const config = loadConfig({ ...required, KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: caFile });
      expect(config.kafka.sslCa).toEqual({ file: caFile, pem });
    });

    it.each<[string, Record<string, string>, string[]]>([
      [
        'a missing CA file',
        { KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: path.join(dir, 'nope.pem') },
        [`KAFKA_SSL_CA_FILE: cannot read ${path.join(dir, 'nope.pem')} (ENOENT)`],
      ],
      [
        'a CA file without a certificate',
        { KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: notPem },
        [`KAFKA_SSL_CA_FILE: ${notPem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`],
      ],
      [
        'a CA file without TLS',
        { KAFKA_SSL_CA_FILE: caFile },
        ['KAFKA_SSL_CA_FILE: is set but KAFKA_SSL is false: set KAFKA_SSL=true'],
      ],
      [
        'aws-msk-iam without a region or TLS',
        { KAFKA_SASL_MECHANISM: 'aws-msk-iam' },
        [
          'AWS_REGION: is required when KAFKA_SASL_MECHANISM=aws-msk-iam',
          'KAFKA_SSL: must be true when KAFKA_SASL_MECHANISM=aws-msk-iam',
        ],
      ],
    ])('refuses %s, naming the variable', (_what, env, expected) => {
      expect(problemsOf({ ...required, ...env })).toEqual(expected);
    });

    it('takes aws-msk-iam with a region and TLS, without a username or password', () => {
      const config = loadConfig({
        ...required,
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'aws-msk-iam',
        AWS_REGION: 'eu-west-1',
      });
      expect(config.kafka.sasl).toEqual({ mechanism: 'aws-msk-iam', region: 'eu-west-1' });
    });
  });

  it.each<[Record<string, string>, number[]]>([
    [{ RETRY_SCHEDULE: '0,1,2' }, [0, 1, 2]],
    [{ RETRY_SCHEDULE: '0,1,2', RETRY_MAX_ATTEMPTS: '5' }, [0, 1, 2, 2, 2]],
    [{ RETRY_SCHEDULE: '0,1,2', RETRY_MAX_ATTEMPTS: '2' }, [0, 1]],
    [{ RETRY_MAX_ATTEMPTS: '3' }, [0, 5, 300]],
    [{ RETRY_SCHEDULE: '0, 0.5 ,1' }, [0, 0.5, 1]],
  ])('builds the retry schedule from %j', (env, schedule) => {
    expect(loadConfig({ ...required, ...env }).delivery.retryScheduleSeconds).toEqual(schedule);
  });

  describe('API rate limits', () => {
    const rateLimits = (env: Record<string, string>) =>
      loadConfig({ ...required, ...env }).http.rateLimits;

    it.each<[string, Record<string, string>, ReturnType<typeof rateLimits>]>([
      [
        'a rate with its default burst of two seconds',
        { API_RATE_LIMIT_PER_S: '5' },
        { accountKey: { perSecond: 5, burst: 10 }, adminKey: undefined },
      ],
      [
        'a rate and a burst, for each kind of key apart',
        {
          API_RATE_LIMIT_PER_S: '5',
          API_RATE_LIMIT_BURST: '5',
          ADMIN_API_RATE_LIMIT_PER_S: '1000',
          ADMIN_API_RATE_LIMIT_BURST: '50',
        },
        { accountKey: { perSecond: 5, burst: 5 }, adminKey: { perSecond: 1000, burst: 50 } },
      ],
      [
        'a burst smaller than the rate',
        { API_RATE_LIMIT_PER_S: '100', API_RATE_LIMIT_BURST: '1' },
        { accountKey: { perSecond: 100, burst: 1 }, adminKey: undefined },
      ],
      [
        '0 as unlimited',
        { API_RATE_LIMIT_PER_S: '0', ADMIN_API_RATE_LIMIT_PER_S: '0' },
        { accountKey: undefined, adminKey: undefined },
      ],
      [
        'a default burst capped at the largest allowed',
        { ADMIN_API_RATE_LIMIT_PER_S: '100000' },
        {
          accountKey: { perSecond: 100, burst: 200 },
          adminKey: { perSecond: 100_000, burst: 10_000 },
        },
      ],
    ])('takes %s', (_what, env, expected) => {
      expect(rateLimits(env)).toEqual(expected);
    });

    it.each<[string, Record<string, string>, string[]]>([
      [
        'a negative or fractional rate',
        { API_RATE_LIMIT_PER_S: '-1', ADMIN_API_RATE_LIMIT_PER_S: '2.5' },
        [
          'API_RATE_LIMIT_PER_S: must be a whole number from 0 to 100000, got "-1"',
          'ADMIN_API_RATE_LIMIT_PER_S: must be a whole number from 0 to 100000, got "2.5"',
        ],
      ],
      [
        'a burst of 0 or beyond the largest',
        {
          API_RATE_LIMIT_BURST: '0',
          ADMIN_API_RATE_LIMIT_PER_S: '5',
          ADMIN_API_RATE_LIMIT_BURST: '10001',
        },
        [
          'API_RATE_LIMIT_BURST: must be a whole number from 1 to 10000, got "0"',
          'ADMIN_API_RATE_LIMIT_BURST: must be a whole number from 1 to 10000, got "10001"',
        ],
      ],
      [
        'a burst for a key without a limit',
        { ADMIN_API_RATE_LIMIT_BURST: '10' },
        [
          'ADMIN_API_RATE_LIMIT_BURST: is set but ADMIN_API_RATE_LIMIT_PER_S is 0 (unlimited): set a rate or unset the burst',
        ],
      ],
      [
        'a burst counted in a window under a millisecond',
        { API_RATE_LIMIT_PER_S: '50000', API_RATE_LIMIT_BURST: '49' },
        ['API_RATE_LIMIT_BURST: must be at least API_RATE_LIMIT_PER_S / 1000 (50)'],
      ],
      [
        'a rate that is not a number',
        { API_RATE_LIMIT_PER_S: 'lots' },
        ['API_RATE_LIMIT_PER_S: must be a whole number from 0 to 100000, got "lots"'],
      ],
    ])('refuses %s, naming the variable', (_what, env, expected) => {
      expect(problemsOf({ ...required, ...env })).toEqual(expected);
    });
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ ...required, API_PORT: '', KAFKA_TOPIC: '' }).http.apiPort).toBe(3000);
  });

  describe('encryption keys', () => {
    const key = (byte: number, bytes = 32) => Buffer.alloc(bytes, byte).toString('base64');

    it('reads the keys in order: the first encrypts, all decrypt', () => {
      const config = loadConfig({ ...required, ENCRYPTION_KEYS: `new:${key(2)}, old:${key(1)}` });
      expect(config.encryption.allowPlaintext).toBe(false);
      expect(config.encryption.keys.map((entry) => entry.id)).toEqual(['new', 'old']);
      expect(config.encryption.keys[0].material()).toEqual(Buffer.alloc(32, 2));
    });

    it('never shows key material when the configuration is printed', () => {
      const config = loadConfig({ ...required, ENCRYPTION_KEYS: `k1:${key(7)}` });
      const material = key(7);
      expect(JSON.stringify(config)).not.toContain(material);
      expect(inspect(config, { depth: 10 })).not.toContain(material);
      expect(inspect(config, { depth: 10 })).toContain('EncryptionKey(k1)');
    });

    it('refuses to start without a key unless plaintext is allowed', () => {
      const { ENCRYPTION_KEYS: _omitted, ...withoutKeys } = required;
      expect(problemsOf(withoutKeys)).toEqual([
        expect.stringMatching(/^ENCRYPTION_KEYS: is required: <id>:<base64 of 32 bytes>/),
      ]);
      const plain = loadConfig({ ...withoutKeys, ENCRYPTION_ALLOW_PLAINTEXT: 'true' });
      expect(plain.encryption).toEqual({ keys: [], allowPlaintext: true });
    });

    it.each<[string, string, string]>([
      [
        'a key of 16 bytes',
        `k1:${key(1, 16)}`,
        'entry 1 ("k1"): the key must be 32 bytes (AES-256), got 16 bytes',
      ],
      [
        'a key of 33 bytes',
        `k1:${key(1, 33)}`,
        'entry 1 ("k1"): the key must be 32 bytes (AES-256), got 33 bytes',
      ],
      ['no id', key(1), 'entry 1 must be <id>:<base64 of 32 bytes>'],
      [
        'an id with a space',
        `my key:${key(1)}`,
        'entry 1 has an invalid id: 1 to 32 letters, digits, ".", "_" or "-"',
      ],
      [
        'a key that is not base64',
        'k1:not*base64!',
        'entry 1 ("k1"): the key is not base64 (make one with: openssl rand -base64 32)',
      ],
      [
        'the same id twice',
        `k1:${key(1)},k1:${key(2)}`,
        'entry 2 ("k1"): the id "k1" is listed twice',
      ],
    ])('refuses %s, naming the variable and never the key', (_what, value, message) => {
      const problems = problemsOf({ ...required, ENCRYPTION_KEYS: value });
      expect(problems).toEqual([`ENCRYPTION_KEYS: ${message}`]);
      expect(problems.join()).not.toContain(key(1));
    });

    it('loads the encryption settings alone, for the migration tools', () => {
      expect(loadEncryptionConfig({ ENCRYPTION_KEYS: `k1:${key(1)}` }).keys).toHaveLength(1);
      expect(() => loadEncryptionConfig({})).toThrow(/ENCRYPTION_KEYS: is required/);
      expect(() => loadEncryptionConfig({ ENCRYPTION_KEYS: `k1:${key(1, 8)}` })).toThrow(
        /ENCRYPTION_KEYS: entry 1 \("k1"\): the key must be 32 bytes/,
      );
    });
  });
});
