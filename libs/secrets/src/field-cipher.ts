import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { EncryptionConfig, EncryptionKey } from '@libs/config';
import { SealedValueError, SecretsErrorCode } from './secrets.errors';

const SEALED_PREFIX = 'enc:v1:';
/**
 * Plaintext mode stores values as they are, except those that would read as tagged: those
 * are escaped with this prefix, so a header value `enc:v1:…` typed by a user stays a value.
 */
const ESCAPED_PREFIX = 'enc:plain:';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/**
 * Values opened, kept in clear per cipher: the worker opens its webhooks' secrets for every
 * delivery, and the same few values come again and again. A value sealed anew (a rotation)
 * reads as another value, so what is kept never goes stale.
 */
export const OPENED_CACHE_SIZE = 4096;

/**
 * AES-256-GCM for single text fields: `enc:v1:<key id>:<base64 of iv | tag | ciphertext>`.
 * The first configured key seals; any configured key opens, found by the id in the value, so
 * keys rotate without downtime. Each value is bound to a context (its row and field) as
 * additional authenticated data: a sealed value copied to another row does not open there.
 */
export class FieldCipher {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly current: EncryptionKey | undefined;
  /** Sealed value and context (see `OPENED_CACHE_SIZE`) to plaintext; least recently used first out. */
  private readonly opened = new Map<string, string>();

  constructor(private readonly config: EncryptionConfig) {
    this.keys = new Map(config.keys.map((key) => [key.id, key.material()]));
    this.current = config.keys[0];
  }

  /** False in plaintext mode (no ENCRYPTION_KEYS): values are stored as they are. */
  get encrypts(): boolean {
    return this.current !== undefined;
  }

  /** The id of the key that seals new values; null in plaintext mode. */
  get currentKeyId(): string | null {
    return this.current?.id ?? null;
  }

  /** The same keys, reading values stored in clear whatever ENCRYPTION_ALLOW_PLAINTEXT says. */
  acceptingPlaintext(): FieldCipher {
    return new FieldCipher({ ...this.config, allowPlaintext: true });
  }

  seal(plaintext: string, context: string): string {
    if (!this.current) {
      return plaintext.startsWith('enc:') ? ESCAPED_PREFIX + plaintext : plaintext;
    }
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.current.material(), iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const payload = Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
    return `${SEALED_PREFIX}${this.current.id}:${payload}`;
  }

  /** The plaintext of a stored value; throws a SealedValueError saying why it cannot. */
  open(stored: string, context: string): string {
    if (!stored.startsWith(SEALED_PREFIX)) {
      if (!this.config.allowPlaintext) {
        throw new SealedValueError(
          SecretsErrorCode.PlaintextRefused,
          'a value is stored unencrypted and ENCRYPTION_ALLOW_PLAINTEXT is not true: ' +
            'encrypt it with `npm run secrets -- reencrypt`',
        );
      }
      return stored.startsWith(ESCAPED_PREFIX) ? stored.slice(ESCAPED_PREFIX.length) : stored;
    }
    // The context is part of the key: a value opens only in the context it was sealed for.
    const cacheKey = `${context}\n${stored}`;
    const known = this.opened.get(cacheKey);
    if (known !== undefined) {
      // Kept as the most recently used: the values in use stay, whatever else passes by.
      this.opened.delete(cacheKey);
      this.opened.set(cacheKey, known);
      return known;
    }
    const plaintext = this.decrypt(stored, context);
    if (this.opened.size >= OPENED_CACHE_SIZE) {
      this.opened.delete(this.opened.keys().next().value as string);
    }
    this.opened.set(cacheKey, plaintext);
    return plaintext;
  }

  private decrypt(stored: string, context: string): string {
    const rest = stored.slice(SEALED_PREFIX.length);
    const separator = rest.indexOf(':');
    const keyId = separator < 0 ? '' : rest.slice(0, separator);
    const payload = Buffer.from(rest.slice(separator + 1), 'base64');
    if (separator <= 0 || payload.length < IV_BYTES + TAG_BYTES) {
      throw new SealedValueError(SecretsErrorCode.Malformed, 'an encrypted value is cut short');
    }
    const key = this.keys.get(keyId);
    if (!key) {
      throw new SealedValueError(
        SecretsErrorCode.UnknownKey,
        `a value is encrypted with key "${keyId}", which ENCRYPTION_KEYS does not list` +
          (this.keys.size === 0 ? ' (it is not set)' : '') +
          ': add that key back after the current one',
      );
    }
    const decipher = createDecipheriv(ALGORITHM, key, payload.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(payload.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      const plaintext = Buffer.concat([
        decipher.update(payload.subarray(IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]);
      return plaintext.toString('utf8');
    } catch {
      throw new SealedValueError(
        SecretsErrorCode.Tampered,
        `a value encrypted with key "${keyId}" failed authentication: it was altered, ` +
          'or belongs to another row or field',
      );
    }
  }

  /**
   * Whether the value is as this cipher would store it now: sealed with the current key, or
   * in plaintext mode, not sealed at all. Re-encryption rewrites the others.
   */
  isCurrent(stored: string): boolean {
    if (!this.current) return !stored.startsWith(SEALED_PREFIX);
    return stored.startsWith(`${SEALED_PREFIX}${this.current.id}:`);
  }

  /** The prefix every value sealed with the current key starts with, for SQL filters. */
  get currentPrefix(): string | null {
    return this.current ? `${SEALED_PREFIX}${this.current.id}:` : null;
  }
}
