import { Injectable } from '@nestjs/common';
import { DeliveryRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { FindWebhookUseCase } from './find-webhook.use-case';
import { ReplayWebhookRequest } from './webhook.request';

@Injectable()
export class ReplayWebhookUseCase {
  constructor(
    private readonly findWebhook: FindWebhookUseCase,
    private readonly deliveries: DeliveryRepository,
  ) {}

  /** Queues one more attempt of every delivery of the webhook in the window; returns how many. */
  async execute(id: string, request: ReplayWebhookRequest, scope: AccountScope): Promise<number> {
    const webhook = await this.findWebhook.execute(id, scope);
    if (!webhook.enabled) {
      throw new ApiError(
        ApiErrorCode.WebhookDisabled,
        `Webhook ${id} is disabled; enable it first`,
      );
    }
    const since = new Date(request.since);
    const until = request.until === undefined ? null : new Date(request.until);
    if (until !== null && until <= since) {
      throw new ApiError(ApiErrorCode.InvalidTimeWindow, 'until must be later than since');
    }
    return this.deliveries.requestReplay(webhook.id, since, until);
  }
}
