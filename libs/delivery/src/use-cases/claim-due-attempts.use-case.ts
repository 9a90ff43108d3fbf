import { Injectable } from '@nestjs/common';
import { ClaimedDelivery, DeliveryRepository } from '@libs/persistence';
import { AttemptDeliveryUseCase } from './attempt-delivery.use-case';

/**
 * Claims work that does not come from Kafka: manual attempts first (someone is waiting
 * for them), then retries whose time has come and deliveries abandoned by a dead worker.
 */
@Injectable()
export class ClaimDueAttemptsUseCase {
  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly attempts: AttemptDeliveryUseCase,
  ) {}

  async execute(limit: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    const leaseMs = this.attempts.leaseMs;
    const manual = await this.deliveries.claimManualAttempts(limit, leaseMs);
    if (manual.length === limit) return manual;
    const due = await this.deliveries.claimDueRetries(limit - manual.length, leaseMs);
    return [...manual, ...due];
  }
}
