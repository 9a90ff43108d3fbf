import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * Account API keys read `whk_<key id>_<secret>`: the id finds the stored hash, the secret
 * is compared with it in constant time. Secrets are 32 random bytes, so a plain SHA-256 is
 * enough (nothing to brute-force, unlike a password).
 */
const KEY_PATTERN = /^whk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  id: string;
  key: string;
  secretHash: Buffer;
}

export function generateApiKey(): NewApiKey {
  const id = randomUUID();
  const secret = randomBytes(32).toString('base64url');
  return { id, key: `whk_${id.replace(/-/g, '')}_${secret}`, secretHash: sha256(secret) };
}

/** The key id and secret of a well-formed account key, or undefined. */
export function parseApiKey(key: string): { id: string; secret: string } | undefined {
  const match = KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const hex = match[1];
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { id, secret: match[2] };
}

export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const hash = sha256(secret);
  return hash.length === storedHash.length && timingSafeEqual(hash, storedHash);
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
