import { WebhookEntity } from '@libs/persistence';

/** A webhook as the API shows it: the row, with its custom header values decrypted. */
export interface WebhookView {
  webhook: WebhookEntity;
  headers: Record<string, string>;
}

/** Create and rotate answer with the signing secret, in clear, once. */
export interface WebhookViewWithSecret extends WebhookView {
  secret: string;
}
