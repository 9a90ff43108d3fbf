import { inspect } from 'node:util';
import { z } from 'zod';

/** AES-256 takes a 32-byte key. */
export const ENCRYPTION_KEY_BYTES = 32;

/** A key id is written into every value it encrypts (`enc:v1:<id>:…`), so no `:` or `,`. */
const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * One data key from ENCRYPTION_KEYS. The key bytes stay out of logs and JSON: printing the
 * configuration shows the id only.
 */
export class EncryptionKey {
  readonly #material: Buffer;

  constructor(
    readonly id: string,
    material: Buffer,
  ) {
    this.#material = material;
  }

  /** The raw key, for the cipher and nothing else. */
  material(): Buffer {
    return this.#material;
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  [inspect.custom](): string {
    return `EncryptionKey(${this.id})`;
  }
}

export interface EncryptionConfig {
  /** The first key encrypts; every key decrypts. Empty only in plaintext mode. */
  keys: EncryptionKey[];
  /**
   * ENCRYPTION_ALLOW_PLAINTEXT: with no keys, values are stored in clear (development);
   * with keys, values found in clear (written before encryption was on) are still read.
   */
  allowPlaintext: boolean;
}

/**
 * `<id>:<base64 of 32 bytes>`, comma-separated. Problems name the entry by position and id,
 * never by its key material.
 */
export const encryptionKeyList = z
  .string()
  .optional()
  .transform((value, ctx): EncryptionKey[] => {
    if (value === undefined || value.trim() === '') return [];
    const entries = value
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const keys: EncryptionKey[] = [];
    let refused = false;
    const problem = (message: string) => {
      refused = true;
      ctx.addIssue({ code: z.ZodIssueCode.custom, message });
    };
    entries.forEach((entry, index) => {
      const separator = entry.indexOf(':');
      const id = separator < 0 ? '' : entry.slice(0, separator);
      const encoded = separator < 0 ? '' : entry.slice(separator + 1).trim();
      const where = `entry ${index + 1}${KEY_ID.test(id) ? ` ("${id}")` : ''}`;
      if (separator < 0) {
        problem(`${where} must be <id>:<base64 of ${ENCRYPTION_KEY_BYTES} bytes>`);
        return;
      }
      if (!KEY_ID.test(id)) {
        problem(`${where} has an invalid id: 1 to 32 letters, digits, ".", "_" or "-"`);
        return;
      }
      if (keys.some((key) => key.id === id)) {
        problem(`${where}: the id "${id}" is listed twice`);
        return;
      }
      const material = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
      // Buffer.from skips what is not base64; re-encoding tells a clean decoding apart.
      const clean =
        material && material.toString('base64').replace(/=+$/, '') === encoded.replace(/=+$/, '');
      if (!material || !clean) {
        problem(`${where}: the key is not base64 (make one with: openssl rand -base64 32)`);
        return;
      }
      if (material.length !== ENCRYPTION_KEY_BYTES) {
        problem(
          `${where}: the key must be ${ENCRYPTION_KEY_BYTES} bytes (AES-256), got ${material.length} bytes`,
        );
        return;
      }
      keys.push(new EncryptionKey(id, material));
    });
    return refused ? z.NEVER : keys;
  });

export const ENCRYPTION_KEYS_REQUIRED =
  'is required: <id>:<base64 of 32 bytes>, comma-separated, the first one encrypts ' +
  '(e.g. k1:$(openssl rand -base64 32)); for development only, ' +
  'ENCRYPTION_ALLOW_PLAINTEXT=true stores webhook secrets and headers unencrypted';
