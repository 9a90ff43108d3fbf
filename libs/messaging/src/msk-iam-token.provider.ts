import type { OauthbearerProviderResponse } from 'kafkajs';

/** What AWS's signer returns: a presigned, base64url token and when it stops being valid. */
export interface MskAuthToken {
  token: string;
  /** Milliseconds since the Unix epoch. */
  expiryTime: number;
}

/** The shape of `generateAuthToken` from aws-msk-iam-sasl-signer-js, injectable for tests. */
export type MskTokenSigner = (options: { region: string }) => Promise<MskAuthToken>;

export interface MskIamTokenProviderOptions {
  signer?: MskTokenSigner;
  now?: () => number;
  /** A token this close to its expiry is replaced before it is handed out. */
  refreshMarginMs?: number;
}

/** Signing failed: no usable AWS credentials, or the region is not one AWS knows. */
export class MskIamTokenError extends Error {
  constructor(
    readonly region: string,
    readonly reason: string,
  ) {
    super(
      `could not sign an AWS MSK IAM token for AWS_REGION=${region}: ${reason} ` +
        '(credentials come from the default AWS chain: environment, profile, web identity, instance role)',
    );
    this.name = 'MskIamTokenError';
  }
}

/**
 * The default signer: AWS's own package with the default credential chain (environment,
 * shared profile, web identity for EKS service accounts, container and instance roles).
 * Loaded on first use, so deployments without MSK IAM never load the AWS SDK.
 */
const awsSigner: MskTokenSigner = async ({ region }) => {
  const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js');
  return generateAuthToken({ region });
};

// Tokens live 15 minutes; a minute's margin covers clock skew and a slow handshake.
const DEFAULT_REFRESH_MARGIN_MS = 60_000;

/**
 * kafkajs's `oauthBearerProvider` for AWS MSK IAM. kafkajs calls it for every new broker
 * connection and leaves reuse to us: the token is kept until it nears expiry, and callers
 * arriving while one is being signed share that signing (the credential chain may call
 * STS or the instance metadata service, which should not be hit once per connection).
 */
export function mskIamTokenProvider(
  region: string,
  {
    signer = awsSigner,
    now = Date.now,
    refreshMarginMs = DEFAULT_REFRESH_MARGIN_MS,
  }: MskIamTokenProviderOptions = {},
): () => Promise<OauthbearerProviderResponse> {
  let current: MskAuthToken | undefined;
  let signing: Promise<MskAuthToken> | undefined;

  const sign = async (): Promise<MskAuthToken> => {
    try {
      const token = await signer({ region });
      if (!token.token) throw new Error('the signer returned an empty token');
      return token;
    } catch (error) {
      throw new MskIamTokenError(region, error instanceof Error ? error.message : String(error));
    }
  };

  return async () => {
    if (current && now() < current.expiryTime - refreshMarginMs) return { value: current.token };
    signing ??= sign().finally(() => (signing = undefined));
    // A failed signing is not kept: the next connection attempt signs again.
    current = await signing;
    return { value: current.token };
  };
}
