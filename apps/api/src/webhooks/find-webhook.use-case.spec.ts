import { EncryptionKey } from '@libs/config';
import { WebhookEntity } from '@libs/persistence';
import { FieldCipher, WebhookCredentials } from '@libs/secrets';
import { revealWebhook } from './find-webhook.use-case';

const key = (id: string, byte: number) => new EncryptionKey(id, Buffer.alloc(32, byte));
const credentialsWith = (...keys: EncryptionKey[]) =>
  new WebhookCredentials(new FieldCipher({ keys, allowPlaintext: false }));

describe('revealWebhook', () => {
  const id = 'c0ffee00-0000-4000-8000-000000000001';
  const [k1, k2] = [key('k1', 1), key('k2', 2)];
  const sealedBy = (secretKey: EncryptionKey, headersKey: EncryptionKey): WebhookEntity =>
    Object.assign(new WebhookEntity(), {
      id,
      secret: credentialsWith(secretKey).sealSecret(id, 'whsec_current'),
      previousSecret: null,
      previousSecretExpiresAt: null,
      headers: credentialsWith(headersKey).sealHeaders(id, { Authorization: 'Bearer t0k3n' }),
    });

  it('shows the headers and no error when everything opens', () => {
    expect(revealWebhook(sealedBy(k2, k1), credentialsWith(k1, k2))).toMatchObject({
      headers: { Authorization: 'Bearer t0k3n' },
      credentialsError: null,
    });
  });

  it('still shows headers that open when only the secret cannot be decrypted', () => {
    expect(revealWebhook(sealedBy(k2, k1), credentialsWith(k1))).toMatchObject({
      headers: { Authorization: 'Bearer t0k3n' },
      credentialsError: expect.stringMatching(/key "k2"/),
    });
  });

  it('shows no headers, and why, when they cannot be decrypted', () => {
    expect(revealWebhook(sealedBy(k2, k1), credentialsWith(k2))).toMatchObject({
      headers: {},
      credentialsError: expect.stringMatching(/key "k1"/),
    });
  });
});
