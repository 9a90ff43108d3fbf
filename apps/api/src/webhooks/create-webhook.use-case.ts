import { Injectable } from '@nestjs/common';
import { AppConfig } from '@libs/config';
import { generateWebhookSecret, literalDestinationProblem } from '@libs/delivery';
import { WebhookEntity, WebhookRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { CreateWebhookRequest } from './webhook.request';

@Injectable()
export class CreateWebhookUseCase {
  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly config: AppConfig,
  ) {}

  execute(request: CreateWebhookRequest, scope: AccountScope): Promise<WebhookEntity> {
    scope.assertMayActFor(request.account_id);
    assertAllowedDestination(request.url, this.config);
    return this.webhooks.create({
      accountId: request.account_id,
      url: request.url,
      eventTypes: request.event_types ?? ['*'],
      description: request.description ?? null,
      headers: request.headers ?? {},
      secret: generateWebhookSecret(),
    });
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
