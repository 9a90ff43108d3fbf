import { Injectable } from '@nestjs/common';
import { FieldCipher } from './field-cipher';

/** A webhook's credentials as stored: each secret and header value sealed by FieldCipher. */
export interface StoredWebhookCredentials {
  id: string;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  headers: Record<string, string>;
}

/** What a delivery needs in clear: every secret that signs now, and the custom headers. */
export interface OpenedWebhookCredentials {
  /** The current secret first; the previous one too while its grace period lasts. */
  secrets: string[];
  headers: Record<string, string>;
}

/** The fields that hold credentials, sealed or (from `openAll`) in clear. */
export type CredentialFields = Pick<
  StoredWebhookCredentials,
  'secret' | 'previousSecret' | 'headers'
>;

/**
 * The one place that knows how a webhook's signing secrets and custom header values are
 * kept at rest. A value is bound to its webhook and its kind: both secrets share a context
 * (a rotation moves the sealed current secret into `previous_secret` as it is), header
 * values share another, so nothing sealed opens in another row.
 */
@Injectable()
export class WebhookCredentials {
  constructor(private readonly cipher: FieldCipher) {}

  /** What every value sealed with the current key starts with; null in plaintext mode. */
  get sealingPrefix(): string | null {
    return this.cipher.currentPrefix;
  }

  /** Opens what a delivery needs. Throws a SealedValueError when a value cannot be opened. */
  open(stored: StoredWebhookCredentials, now: Date = new Date()): OpenedWebhookCredentials {
    const secrets = [this.openSecret(stored.id, stored.secret)];
    if (
      stored.previousSecret !== null &&
      stored.previousSecretExpiresAt !== null &&
      stored.previousSecretExpiresAt > now
    ) {
      secrets.push(this.openSecret(stored.id, stored.previousSecret));
    }
    return { secrets, headers: this.openHeaders(stored.id, stored.headers) };
  }

  sealSecret(webhookId: string, secret: string): string {
    return this.cipher.seal(secret, secretContext(webhookId));
  }

  openSecret(webhookId: string, sealed: string): string {
    return this.cipher.open(sealed, secretContext(webhookId));
  }

  /** Header names stay readable (they are not secret, and tell an operator what is there). */
  sealHeaders(webhookId: string, headers: Record<string, string>): Record<string, string> {
    return mapValues(headers, (value) => this.cipher.seal(value, headerContext(webhookId)));
  }

  openHeaders(webhookId: string, headers: Record<string, string>): Record<string, string> {
    return mapValues(headers, (value) => this.cipher.open(value, headerContext(webhookId)));
  }

  /** Every field in clear, values stored in clear included: for decrypting a database back. */
  openAll(stored: StoredWebhookCredentials): CredentialFields {
    const reader = new WebhookCredentials(this.cipher.acceptingPlaintext());
    return {
      secret: reader.openSecret(stored.id, stored.secret),
      previousSecret:
        stored.previousSecret === null ? null : reader.openSecret(stored.id, stored.previousSecret),
      headers: reader.openHeaders(stored.id, stored.headers),
    };
  }

  /**
   * The fields sealed again with the current key, or null when they already are. Values
   * stored in clear are read whatever ENCRYPTION_ALLOW_PLAINTEXT says: this is how they
   * get encrypted.
   */
  reseal(stored: StoredWebhookCredentials): CredentialFields | null {
    const fields = [stored.secret, stored.previousSecret, ...Object.values(stored.headers)];
    if (fields.every((value) => value === null || this.cipher.isCurrent(value))) return null;
    const reader = new WebhookCredentials(this.cipher.acceptingPlaintext());
    const again = (value: string) =>
      this.sealSecret(stored.id, reader.openSecret(stored.id, value));
    return {
      secret: again(stored.secret),
      previousSecret: stored.previousSecret === null ? null : again(stored.previousSecret),
      headers: this.sealHeaders(stored.id, reader.openHeaders(stored.id, stored.headers)),
    };
  }
}

const secretContext = (webhookId: string) => `webhook:${webhookId}:secret`;
const headerContext = (webhookId: string) => `webhook:${webhookId}:header`;

function mapValues(
  record: Record<string, string>,
  map: (value: string) => string,
): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([name, value]) => [name, map(value)]));
}
