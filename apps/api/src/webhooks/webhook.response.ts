import { WebhookView, WebhookViewWithSecret } from './webhook-view';

export class WebhookResponse {
  id!: string;
  account_id!: string;
  url!: string;
  event_types!: string[];
  description!: string | null;
  headers!: Record<string, string>;
  /** Requests per second at most (after a burst of one second's worth); null: no limit. */
  rate_limit_per_s!: number | null;
  enabled!: boolean;
  /** Why the webhook stopped receiving events, when it did. */
  disabled_reason!: string | null;
  /**
   * Why the service cannot decrypt this webhook's secret or header values (an ENCRYPTION_KEYS
   * problem for the operator; `headers` is then empty); null normally. Until it is fixed,
   * attempts are recorded as not sent and retried on schedule.
   */
  credentials_error!: string | null;
  created_at!: string;
  updated_at!: string;
}

export class WebhookWithSecretResponse extends WebhookResponse {
  /** `whsec_…`: verify signatures with it. Shown only on create and rotate. */
  secret!: string;
}

export function toWebhookResponse({
  webhook,
  headers,
  credentialsError,
}: WebhookView): WebhookResponse {
  return {
    id: webhook.id,
    account_id: webhook.accountId,
    url: webhook.url,
    event_types: webhook.eventTypes,
    description: webhook.description,
    headers,
    rate_limit_per_s: webhook.rateLimitPerS,
    enabled: webhook.enabled,
    disabled_reason: webhook.disabledReason,
    credentials_error: credentialsError,
    created_at: webhook.createdAt.toISOString(),
    updated_at: webhook.updatedAt.toISOString(),
  };
}

export function toWebhookWithSecret(view: WebhookViewWithSecret): WebhookWithSecretResponse {
  return { ...toWebhookResponse(view), secret: view.secret };
}
