import { WebhookEntity } from '@libs/persistence';

/** A webhook as the API shows it: the row, with its custom header values decrypted. */
export interface WebhookView {
  webhook: WebhookEntity;
  /** Empty when they cannot be decrypted (`credentialsError` says why). */
  headers: Record<string, string>;
  /** Why the service cannot open this webhook's secret or headers; null when it can. */
  credentialsError: string | null;
}

/** Create and rotate answer with the signing secret, in clear, once. */
export interface WebhookViewWithSecret extends WebhookView {
  secret: string;
}
