import { Injectable } from '@nestjs/common';
import { DeliveryHistoryRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { toDeliveryResponse } from '../deliveries/delivery.response';
import { EventResponse } from './event.response';

@Injectable()
export class GetEventUseCase {
  constructor(private readonly history: DeliveryHistoryRepository) {}

  /**
   * The event as stored by the worker (so after it was consumed) and its deliveries. Ids are
   * unique per account: the caller's account (or `accountId`) picks among accounts.
   */
  async execute(id: string, scope: AccountScope, accountId?: string): Promise<EventResponse> {
    const account = scope.listFilter(accountId);
    const events = (await this.history.findEvents(id)).filter(
      (event) =>
        scope.canSee(event.accountId) && (account === undefined || event.accountId === account),
    );
    if (events.length === 0) {
      throw new ApiError(ApiErrorCode.EventNotFound, `Event ${id} not found`);
    }
    if (events.length > 1) {
      throw new ApiError(
        ApiErrorCode.AmbiguousEventId,
        `Event id ${id} is used by ${events.length} accounts: name one with account_id`,
      );
    }
    const [event] = events;
    const deliveries = await this.history.deliveriesOfEvent(event.accountId, id);
    const body = JSON.parse(event.body) as Omit<EventResponse, 'received_at' | 'deliveries'>;
    return {
      ...body,
      received_at: event.receivedAt.toISOString(),
      deliveries: deliveries.map(toDeliveryResponse),
    };
  }
}
