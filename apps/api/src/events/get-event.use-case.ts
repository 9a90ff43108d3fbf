import { Injectable } from '@nestjs/common';
import { DeliveryHistoryRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { toDeliveryResponse } from '../deliveries/delivery.response';
import { EventResponse } from './event.response';

@Injectable()
export class GetEventUseCase {
  constructor(private readonly history: DeliveryHistoryRepository) {}

  /** The event as stored by the worker (so after it was consumed) and its deliveries. */
  async execute(id: string, scope: AccountScope): Promise<EventResponse> {
    const event = await this.history.findEvent(id);
    if (event === null || !scope.canSee(event.accountId)) {
      throw new ApiError(ApiErrorCode.EventNotFound, `Event ${id} not found`);
    }
    const deliveries = await this.history.deliveriesOfEvent(id);
    const body = JSON.parse(event.body) as Omit<EventResponse, 'received_at' | 'deliveries'>;
    return {
      ...body,
      received_at: event.receivedAt.toISOString(),
      deliveries: deliveries.map(toDeliveryResponse),
    };
  }
}
