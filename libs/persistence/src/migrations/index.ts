import { InitialSchema1764172800000 } from './1764172800000-InitialSchema';
import { RetriesAndEndpointHealth1764259200000 } from './1764259200000-RetriesAndEndpointHealth';
import { AccountsAndRetention1764345600000 } from './1764345600000-AccountsAndRetention';
import { TimeOrderedHistoryIndexes1764432000000 } from './1764432000000-TimeOrderedHistoryIndexes';
import { ClaimTokensAndIdempotentBodies1764518400000 } from './1764518400000-ClaimTokensAndIdempotentBodies';
import { AccountScopedEventIds1764604800000 } from './1764604800000-AccountScopedEventIds';
import { LeanerDeliveryIndexes1764700000000 } from './1764700000000-LeanerDeliveryIndexes';
import { DirectDeliveryQueue1764777600000 } from './1764777600000-DirectDeliveryQueue';
import { EndpointRateLimits1764800000000 } from './1764800000000-EndpointRateLimits';
import { WebhookChangeCounter1764900000000 } from './1764900000000-WebhookChangeCounter';
import { encryptWebhookSecrets } from './1764720000000-EncryptWebhookSecrets';
import { WebhookCredentials } from '@libs/secrets';

/**
 * Listed explicitly: the apps are bundled, so a glob over migration files would find nothing.
 * Built per run because the data migrations need the encryption keys.
 */
export function migrations(credentials: WebhookCredentials) {
  return [
    InitialSchema1764172800000,
    RetriesAndEndpointHealth1764259200000,
    AccountsAndRetention1764345600000,
    TimeOrderedHistoryIndexes1764432000000,
    ClaimTokensAndIdempotentBodies1764518400000,
    AccountScopedEventIds1764604800000,
    LeanerDeliveryIndexes1764700000000,
    encryptWebhookSecrets(credentials),
    DirectDeliveryQueue1764777600000,
    EndpointRateLimits1764800000000,
    WebhookChangeCounter1764900000000,
  ];
}
