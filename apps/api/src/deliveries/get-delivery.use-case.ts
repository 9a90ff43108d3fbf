import { Injectable } from '@nestjs/common';
import { DeliveryHistoryRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { DeliveryWithAttemptsResponse, toDeliveryWithAttempts } from './delivery.response';

@Injectable()
export class GetDeliveryUseCase {
  constructor(private readonly history: DeliveryHistoryRepository) {}

  async execute(id: string, scope: AccountScope): Promise<DeliveryWithAttemptsResponse> {
    const delivery = await this.history.findWithAttempts(id);
    if (delivery === null || !scope.canSee(delivery.accountId)) {
      throw new ApiError(ApiErrorCode.DeliveryNotFound, `Delivery ${id} not found`);
    }
    return toDeliveryWithAttempts(delivery);
  }
}
