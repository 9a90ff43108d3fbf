import { KafkaConfig } from '@libs/config';
import { kafkaClientConfig } from './kafka-client.config';
import {
  MskAuthToken,
  MskIamTokenError,
  MskTokenSigner,
  mskIamTokenProvider,
} from './msk-iam-token.provider';

const MINUTE = 60_000;

/** A signer that records its calls and hands out numbered tokens valid for 15 minutes. */
function recordingSigner(clock: { now: number }) {
  const calls: Array<{ region: string }> = [];
  const signer: MskTokenSigner = async (options) => {
    calls.push(options);
    return { token: `token-${calls.length}`, expiryTime: clock.now + 15 * MINUTE };
  };
  return { signer, calls };
}

describe('mskIamTokenProvider', () => {
  it('returns the signed token as the OAUTHBEARER value, signed for the configured region', async () => {
    const clock = { now: 1_000_000 };
    const { signer, calls } = recordingSigner(clock);
    const provide = mskIamTokenProvider('eu-central-1', { signer, now: () => clock.now });

    await expect(provide()).resolves.toEqual({ value: 'token-1' });
    expect(calls).toEqual([{ region: 'eu-central-1' }]);
  });

  it.each<[string, number, string, number]>([
    ['reuses the token well before expiry', 10 * MINUTE, 'token-1', 1],
    ['reuses it just outside the refresh margin', 14 * MINUTE - 1, 'token-1', 1],
    ['signs a new one inside the refresh margin', 14 * MINUTE, 'token-2', 2],
    ['signs a new one after expiry', 20 * MINUTE, 'token-2', 2],
  ])('%s', async (_what, elapsed, expected, signings) => {
    const clock = { now: 5_000_000 };
    const { signer, calls } = recordingSigner(clock);
    const provide = mskIamTokenProvider('us-east-1', {
      signer,
      now: () => clock.now,
      refreshMarginMs: MINUTE,
    });
    await provide();
    clock.now += elapsed;
    await expect(provide()).resolves.toEqual({ value: expected });
    expect(calls).toHaveLength(signings);
  });

  it('signs once for connections that ask at the same time', async () => {
    let release: (token: MskAuthToken) => void = () => undefined;
    let signings = 0;
    const signer: MskTokenSigner = () => {
      signings += 1;
      return new Promise((resolve) => (release = resolve));
    };
    const provide = mskIamTokenProvider('us-east-1', { signer, now: () => 0 });
    const answers = Promise.all([provide(), provide(), provide()]);
    release({ token: 'shared', expiryTime: 15 * MINUTE });
    await expect(answers).resolves.toEqual([
      { value: 'shared' },
      { value: 'shared' },
      { value: 'shared' },
    ]);
    expect(signings).toBe(1);
  });

  it('explains a signing failure and tries again on the next connection', async () => {
    let failures = 1;
    const signer: MskTokenSigner = async () => {
      if (failures-- > 0) throw new Error('Could not load credentials from any providers');
      return { token: 'after-credentials-appeared', expiryTime: 15 * MINUTE };
    };
    const provide = mskIamTokenProvider('ap-south-1', { signer, now: () => 0 });

    const failure = await provide().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(MskIamTokenError);
    expect((failure as MskIamTokenError).message).toMatch(
      /^could not sign an AWS MSK IAM token for AWS_REGION=ap-south-1: Could not load credentials from any providers/,
    );
    await expect(provide()).resolves.toEqual({ value: 'after-credentials-appeared' });
  });

  it('refuses an empty token rather than sending it', async () => {
    const provide = mskIamTokenProvider('us-east-1', {
      signer: async () => ({ token: '', expiryTime: 15 * MINUTE }),
      now: () => 0,
    });
    await expect(provide()).rejects.toThrow(/the signer returned an empty token/);
  });
});

describe("mskIamTokenProvider with AWS's own signer", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('signs a kafka-cluster:Connect request for the region with credentials from the environment', async () => {
    // The first link of the default credential chain; signing itself needs no network.
    process.env.AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;

    const { value } = await mskIamTokenProvider('eu-west-1')();
    const signed = new URL(Buffer.from(value, 'base64url').toString('utf8'));
    expect(signed.host).toBe('kafka.eu-west-1.amazonaws.com');
    expect(signed.searchParams.get('Action')).toBe('kafka-cluster:Connect');
    expect(signed.searchParams.get('X-Amz-Credential')).toMatch(
      /^AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/kafka-cluster\/aws4_request$/,
    );
    expect(signed.searchParams.get('X-Amz-Expires')).toBe('900');
  });
});

describe('kafkaClientConfig', () => {
  const base: KafkaConfig = {
    brokers: ['b-1.msk.eu-west-1.amazonaws.com:9098'],
    topic: 'webhook-events',
    consumerGroup: 'webhook-consumers',
    topicPartitions: 12,
    topicReplication: 3,
    clientId: 'kafka-webhooks',
    ssl: true,
  };

  it('sends AWS MSK IAM as OAUTHBEARER with a provider signing for AWS_REGION, over TLS', async () => {
    const clock = { now: 0 };
    const { signer, calls } = recordingSigner(clock);
    const client = kafkaClientConfig(
      { ...base, sasl: { mechanism: 'aws-msk-iam', region: 'eu-west-1' } },
      '-api',
      { signer, now: () => clock.now },
    );
    expect(client.ssl).toBe(true);
    expect(client.clientId).toBe('kafka-webhooks-api');
    const sasl = client.sasl;
    if (sasl?.mechanism !== 'oauthbearer' || !('oauthBearerProvider' in sasl)) {
      throw new Error(`expected an OAUTHBEARER provider, got ${sasl?.mechanism}`);
    }
    await expect(sasl.oauthBearerProvider()).resolves.toEqual({ value: 'token-1' });
    expect(calls).toEqual([{ region: 'eu-west-1' }]);
  });

  it('trusts only the configured CA when a CA file is set', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const client = kafkaClientConfig({ ...base, sslCa: { file: '/ca.pem', pem } });
    expect(client.ssl).toEqual({ ca: [pem] });
  });

  it('passes SCRAM credentials through as they are', () => {
    const client = kafkaClientConfig({
      ...base,
      sasl: { mechanism: 'scram-sha-512', username: 'app', password: 'secret' },
    });
    expect(client.sasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'app',
      password: 'secret',
    });
  });
});
