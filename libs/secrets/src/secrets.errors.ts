export enum SecretsErrorCode {
  /** Sealed under a key id that ENCRYPTION_KEYS does not list (or no keys at all). */
  UnknownKey = 'unknown_key',
  /** The authentication tag does not match: altered, or copied from another row or field. */
  Tampered = 'tampered',
  /** Starts like a sealed value but cannot be one (cut short, not base64). */
  Malformed = 'malformed',
  /** Stored in clear while ENCRYPTION_ALLOW_PLAINTEXT is false. */
  PlaintextRefused = 'plaintext_refused',
}

/**
 * A stored value that cannot be opened. The message says why and what to do about it; it
 * never carries the value, sealed or not.
 */
export class SealedValueError extends Error {
  constructor(
    readonly code: SecretsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SealedValueError';
  }
}
