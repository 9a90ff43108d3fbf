import { Injectable } from '@nestjs/common';
import { DeliveryRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { FindWebhookUseCase } from './find-webhook.use-case';
import { ReplayWebhookRequest } from './webhook.request';

/**
 * Deliveries one replay call queues at most: a replay takes turns with other manual attempts,
 * but an unbounded one would still make every worker chew on it for hours.
 */
export const REPLAY_LIMIT = 10_000;

@Injectable()
export class ReplayWebhookUseCase {
  constructor(
    private readonly findWebhook: FindWebhookUseCase,
    private readonly deliveries: DeliveryRepository,
  ) {}

  /** Queues one more attempt of the window's deliveries, oldest first, up to REPLAY_LIMIT. */
  async execute(
    id: string,
    request: ReplayWebhookRequest,
    scope: AccountScope,
  ): Promise<{ queued: number; nextSince: Date | null }> {
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
    return this.deliveries.requestReplay(webhook.id, since, until, REPLAY_LIMIT);
  }
}
