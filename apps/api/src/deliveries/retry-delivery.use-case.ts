import { Injectable } from '@nestjs/common';
import { DeliveryHistoryRepository, DeliveryRepository } from '@libs/persistence';
import { ApiError, ApiErrorCode } from '../common/api.errors';

@Injectable()
export class RetryDeliveryUseCase {
  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly history: DeliveryHistoryRepository,
  ) {}

  /** Queues one manual attempt, made by a worker within a poll interval; the schedule stays. */
  async execute(id: string): Promise<void> {
    if (await this.deliveries.requestManualAttempt(id)) return;
    if ((await this.history.findWithAttempts(id)) === null) {
      throw new ApiError(ApiErrorCode.DeliveryNotFound, `Delivery ${id} not found`);
    }
    throw new ApiError(
      ApiErrorCode.AttemptInProgress,
      `Delivery ${id} is being attempted right now`,
    );
  }
}
