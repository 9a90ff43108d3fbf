import { EncryptionKey } from '@libs/config';
import { FieldCipher } from './field-cipher';
import { SealedValueError } from './secrets.errors';
import { StoredWebhookCredentials, WebhookCredentials } from './webhook-credentials';

const key = (id: string, byte: number) => new EncryptionKey(id, Buffer.alloc(32, byte));
const credentialsWith = (keys: EncryptionKey[], allowPlaintext = false) =>
  new WebhookCredentials(new FieldCipher({ keys, allowPlaintext }));

describe('WebhookCredentials', () => {
  const now = new Date('2025-06-01T12:00:00Z');
  const credentials = credentialsWith([key('k1', 1)]);
  const stored = (overrides: Partial<StoredWebhookCredentials> = {}): StoredWebhookCredentials => ({
    id: 'c0ffee00-0000-4000-8000-000000000001',
    secret: credentials.sealSecret('c0ffee00-0000-4000-8000-000000000001', 'whsec_current'),
    previousSecret: credentials.sealSecret('c0ffee00-0000-4000-8000-000000000001', 'whsec_old'),
    previousSecretExpiresAt: new Date(now.getTime() + 1000),
    headers: credentials.sealHeaders('c0ffee00-0000-4000-8000-000000000001', {
      Authorization: 'Bearer t0k3n',
    }),
    ...overrides,
  });

  it('opens every secret that signs now, and the headers', () => {
    const row = stored();
    expect(row.headers.Authorization).toMatch(/^enc:v1:k1:/);
    expect(credentials.open(row, now)).toEqual({
      secrets: ['whsec_current', 'whsec_old'],
      headers: { Authorization: 'Bearer t0k3n' },
    });
  });

  it('leaves out the previous secret once its grace period is over', () => {
    const row = stored({ previousSecretExpiresAt: now });
    expect(credentials.open(row, now).secrets).toEqual(['whsec_current']);
  });

  it('refuses a header value copied in from another webhook', () => {
    const other = credentials.sealHeaders('c0ffee00-0000-4000-8000-000000000002', { X: 'theirs' });
    expect(() => credentials.open(stored({ headers: other }), now)).toThrow(SealedValueError);
  });

  it('reseals with the current key, reading values in clear, and then has nothing to do', () => {
    const legacy = stored({ secret: 'whsec_current', headers: { Authorization: 'Bearer t0k3n' } });
    const rotated = credentialsWith([key('k2', 2), key('k1', 1)]);
    const resealed = rotated.reseal(legacy);
    expect(resealed).not.toBeNull();
    const after = { ...legacy, ...resealed };
    expect([after.secret, after.previousSecret, after.headers.Authorization]).toEqual([
      expect.stringMatching(/^enc:v1:k2:/),
      expect.stringMatching(/^enc:v1:k2:/),
      expect.stringMatching(/^enc:v1:k2:/),
    ]);
    expect(rotated.open(after, now)).toEqual(credentials.open(stored(), now));
    expect(rotated.reseal(after)).toBeNull();
  });
});
