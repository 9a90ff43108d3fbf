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
  ): Promise<{ queued: number; nextSince: string | null }> {
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
    // A `since` taken from `next_since` carries microseconds, which a Date cannot hold.
    return this.deliveries.requestReplay(
      webhook.id,
      since,
      until,
      REPLAY_LIMIT,
      microsecondsPastMillisecond(request.since),
    );
  }
}

/** The 4th to 6th fractional digits of an RFC 3339 time, as microseconds (0-999). */
export function microsecondsPastMillisecond(time: string): number {
  const fraction = /\.(\d+)/.exec(time)?.[1] ?? '';
  return Number(fraction.slice(3, 6).padEnd(3, '0'));
}
