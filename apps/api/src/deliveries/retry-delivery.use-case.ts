import { Injectable } from '@nestjs/common';
import { DeliveryHistoryRepository, DeliveryRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';

@Injectable()
export class RetryDeliveryUseCase {
  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly history: DeliveryHistoryRepository,
  ) {}

  /** Queues one manual attempt, made by a worker within a poll interval; the schedule stays. */
  async execute(id: string, scope: AccountScope): Promise<void> {
    const delivery = await this.history.findById(id);
    if (delivery === null || !scope.canSee(delivery.accountId)) {
      throw new ApiError(ApiErrorCode.DeliveryNotFound, `Delivery ${id} not found`);
    }
    if (!(await this.deliveries.requestManualAttempt(id))) {
      throw new ApiError(
        ApiErrorCode.AttemptInProgress,
        `Delivery ${id} is being attempted right now`,
      );
    }
  }
}
