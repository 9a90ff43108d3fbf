import { Injectable } from '@nestjs/common';
import { DeliveryHistoryRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { DeliveryPageResponse, toDeliveryResponse } from './delivery.response';
import { decodeCursor, encodeCursor } from './delivery-cursor';
import { ListDeliveriesQuery } from './list-deliveries.query';

const DEFAULT_LIMIT = 50;

@Injectable()
export class ListDeliveriesUseCase {
  constructor(private readonly history: DeliveryHistoryRepository) {}

  async execute(query: ListDeliveriesQuery, scope: AccountScope): Promise<DeliveryPageResponse> {
    const page = await this.history.list(
      {
        accountId: scope.listFilter(query.account_id),
        webhookId: query.webhook_id,
        eventId: query.event_id,
        eventType: query.event_type,
        status: query.status,
        since: query.since === undefined ? undefined : new Date(query.since),
        until: query.until === undefined ? undefined : new Date(query.until),
      },
      query.limit ?? DEFAULT_LIMIT,
      query.cursor === undefined ? undefined : decodeCursor(query.cursor),
    );
    return {
      data: page.deliveries.map(toDeliveryResponse),
      next_cursor: page.next === null ? null : encodeCursor(page.next),
    };
  }
}
