import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppConfig } from '@libs/config';
import { generateWebhookSecret, literalDestinationProblem } from '@libs/delivery';
import { WebhookRepository } from '@libs/persistence';
import { WebhookCredentials } from '@libs/secrets';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { WebhookViewWithSecret } from './webhook-view';
import { CreateWebhookRequest } from './webhook.request';

@Injectable()
export class CreateWebhookUseCase {
  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly config: AppConfig,
    private readonly credentials: WebhookCredentials,
  ) {}

  async execute(
    request: CreateWebhookRequest,
    scope: AccountScope,
  ): Promise<WebhookViewWithSecret> {
    scope.assertMayActFor(request.account_id);
    assertAllowedDestination(request.url, this.config);
    // The id is chosen here: the sealed values are bound to it.
    const id = randomUUID();
    const secret = generateWebhookSecret();
    const headers = request.headers ?? {};
    const webhook = await this.webhooks.create({
      id,
      accountId: request.account_id,
      url: request.url,
      eventTypes: request.event_types ?? ['*'],
      description: request.description ?? null,
      rateLimitPerS: request.rate_limit_per_s ?? null,
      headers: this.credentials.sealHeaders(id, headers),
      secret: this.credentials.sealSecret(id, secret),
    });
    return { webhook, headers, credentialsError: null, secret };
  }
}

/** Refuses URLs that visibly point at private networks, unless those are allowed. */
export function assertAllowedDestination(url: string, config: AppConfig): void {
  if (config.delivery.allowPrivateNetworks) return;
  const problem = literalDestinationProblem(url);
  if (problem) {
    throw new ApiError(
      ApiErrorCode.DestinationNotAllowed,
      `url is not allowed: ${problem} (set WEBHOOK_ALLOW_PRIVATE_NETWORKS=true for development)`,
    );
  }
}
