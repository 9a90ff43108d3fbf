import crypto from 'node:crypto';
import { EncryptionKey } from '@libs/config';
import { FieldCipher, OPENED_CACHE_SIZE } from './field-cipher';
import { SealedValueError, SecretsErrorCode } from './secrets.errors';

const key = (id: string, byte: number) => new EncryptionKey(id, Buffer.alloc(32, byte));
const cipherWith = (keys: EncryptionKey[], allowPlaintext = false) =>
  new FieldCipher({ keys, allowPlaintext });

function refusal(open: () => unknown): SealedValueError {
  try {
    open();
  } catch (error) {
    if (error instanceof SealedValueError) return error;
    throw error;
  }
  throw new Error('expected the value to be refused');
}

describe('FieldCipher', () => {
  const context = 'webhook:1:secret';
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

  it('seals with the first key into a tagged value that opens again', () => {
    const cipher = cipherWith([key('k2', 2), key('k1', 1)]);
    const sealed = cipher.seal(secret, context);
    expect(sealed).toMatch(/^enc:v1:k2:[A-Za-z0-9+/]+=*$/);
    expect(sealed).not.toContain(secret);
    expect(cipher.open(sealed, context)).toBe(secret);
    expect(cipher.isCurrent(sealed)).toBe(true);
  });

  it('never seals the same value the same way twice (a fresh IV each time)', () => {
    const cipher = cipherWith([key('k1', 1)]);
    expect(cipher.seal(secret, context)).not.toBe(cipher.seal(secret, context));
  });

  it('opens values of every listed key, so keys rotate without downtime', () => {
    const before = cipherWith([key('old', 1)]);
    const after = cipherWith([key('new', 2), key('old', 1)]);
    const sealedBefore = before.seal(secret, context);
    expect(after.open(sealedBefore, context)).toBe(secret);
    expect(after.isCurrent(sealedBefore)).toBe(false);
    expect(after.seal(secret, context)).toMatch(/^enc:v1:new:/);
  });

  it('refuses a value sealed with a key that is no longer listed, naming the key id', () => {
    const sealed = cipherWith([key('old', 1)]).seal(secret, context);
    const error = refusal(() => cipherWith([key('new', 2)]).open(sealed, context));
    expect(error.code).toBe(SecretsErrorCode.UnknownKey);
    expect(error.message).toBe(
      'a value is encrypted with key "old", which ENCRYPTION_KEYS does not list: ' +
        'add that key back after the current one',
    );
    expect(refusal(() => cipherWith([], true).open(sealed, context)).message).toMatch(
      /ENCRYPTION_KEYS does not list \(it is not set\)/,
    );
  });

  it.each<[string, (sealed: string) => string]>([
    ['a flipped ciphertext bit', (sealed) => flipByte(sealed, -1)],
    ['a flipped tag bit', (sealed) => flipByte(sealed, 12)],
    ['a flipped IV bit', (sealed) => flipByte(sealed, 0)],
    ['a key id swapped for another listed key', (sealed) => sealed.replace(':k1:', ':k2:')],
  ])('refuses %s', (_what, tamper) => {
    const cipher = cipherWith([key('k1', 1), key('k2', 2)]);
    const error = refusal(() => cipher.open(tamper(cipher.seal(secret, context)), context));
    expect(error.code).toBe(SecretsErrorCode.Tampered);
    expect(error.message).not.toContain(secret);
  });

  it('refuses a value moved to another row or field (the context is authenticated)', () => {
    const cipher = cipherWith([key('k1', 1)]);
    const sealed = cipher.seal(secret, 'webhook:1:secret');
    expect(refusal(() => cipher.open(sealed, 'webhook:2:secret')).code).toBe(
      SecretsErrorCode.Tampered,
    );
    expect(refusal(() => cipher.open(sealed, 'webhook:1:header')).code).toBe(
      SecretsErrorCode.Tampered,
    );
  });

  it('decrypts a value once, and still refuses it in another context once opened', () => {
    const cipher = cipherWith([key('k1', 1)]);
    const sealed = cipher.seal(secret, 'webhook:1:secret');
    const decipher = jest.spyOn(crypto, 'createDecipheriv');
    try {
      expect(cipher.open(sealed, 'webhook:1:secret')).toBe(secret);
      expect(cipher.open(sealed, 'webhook:1:secret')).toBe(secret);
      expect(decipher).toHaveBeenCalledTimes(1);
      expect(refusal(() => cipher.open(sealed, 'webhook:2:secret')).code).toBe(
        SecretsErrorCode.Tampered,
      );
      // A value sealed anew (a rotation) is another value: opened afresh.
      const again = cipher.seal('whsec_rotated', 'webhook:1:secret');
      expect(cipher.open(again, 'webhook:1:secret')).toBe('whsec_rotated');
      expect(decipher).toHaveBeenCalledTimes(3);
    } finally {
      decipher.mockRestore();
    }
  });

  it('keeps the values in use opened while more values than it keeps pass by', () => {
    const cipher = cipherWith([key('k1', 1)]);
    const inUse = cipher.seal(secret, 'webhook:1:secret');
    const others = Array.from({ length: OPENED_CACHE_SIZE }, (_, index) =>
      cipher.seal(`whsec_other_${index}`, `webhook:${index + 2}:secret`),
    );
    cipher.open(inUse, 'webhook:1:secret');
    const decipher = jest.spyOn(crypto, 'createDecipheriv');
    try {
      others.forEach((sealed, index) => {
        cipher.open(sealed, `webhook:${index + 2}:secret`);
        // The webhook in use is sent to all along: it is never the one pushed out.
        expect(cipher.open(inUse, 'webhook:1:secret')).toBe(secret);
      });
      expect(decipher).toHaveBeenCalledTimes(OPENED_CACHE_SIZE);
      // The least recently used one went instead: opened again when it comes back.
      cipher.open(others[0], 'webhook:2:secret');
      expect(decipher).toHaveBeenCalledTimes(OPENED_CACHE_SIZE + 1);
    } finally {
      decipher.mockRestore();
    }
  });

  it('refuses a value cut short', () => {
    const cipher = cipherWith([key('k1', 1)]);
    expect(refusal(() => cipher.open('enc:v1:k1:AAAA', context)).code).toBe(
      SecretsErrorCode.Malformed,
    );
    expect(refusal(() => cipher.open('enc:v1:', context)).code).toBe(SecretsErrorCode.Malformed);
  });

  it('reads values stored in clear only when ENCRYPTION_ALLOW_PLAINTEXT is true', () => {
    const error = refusal(() => cipherWith([key('k1', 1)]).open(secret, context));
    expect(error.code).toBe(SecretsErrorCode.PlaintextRefused);
    expect(error.message).not.toContain(secret);
    expect(cipherWith([key('k1', 1)], true).open(secret, context)).toBe(secret);
    expect(
      cipherWith([key('k1', 1)])
        .acceptingPlaintext()
        .open(secret, context),
    ).toBe(secret);
  });

  describe('in plaintext mode (no keys)', () => {
    const plain = cipherWith([], true);

    it('stores values as they are', () => {
      expect(plain.encrypts).toBe(false);
      expect(plain.seal(secret, context)).toBe(secret);
      expect(plain.open(secret, context)).toBe(secret);
      expect(plain.isCurrent(secret)).toBe(true);
    });

    it('keeps a value that looks sealed a plain value', () => {
      const lookalike = 'enc:v1:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
      const stored = plain.seal(lookalike, context);
      expect(plain.open(stored, context)).toBe(lookalike);
      // Once keys are configured, re-encryption reads it back as the same plain value.
      expect(cipherWith([key('k1', 1)], true).open(stored, context)).toBe(lookalike);
    });
  });
});

/** Flips one bit of the decoded payload (iv | tag | ciphertext) at `index` (negative: from the end). */
function flipByte(sealed: string, index: number): string {
  const at = sealed.lastIndexOf(':') + 1;
  const payload = Buffer.from(sealed.slice(at), 'base64');
  const position = index < 0 ? payload.length + index : index;
  payload[position] ^= 0x01;
  return sealed.slice(0, at) + payload.toString('base64');
}
