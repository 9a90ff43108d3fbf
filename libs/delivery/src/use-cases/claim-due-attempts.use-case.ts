import { Injectable } from '@nestjs/common';
import { ClaimedDelivery, DeliveryRepository } from '@libs/persistence';
import { AttemptDeliveryUseCase } from './attempt-delivery.use-case';

/**
 * Claims work that does not come from Kafka: manual attempts (someone is waiting for them),
 * retries whose time has come and deliveries abandoned by a dead worker. Manual attempts get
 * at most half the free slots while retries are due, so a large replay never starves the
 * retries of every other account; either kind takes what the other leaves.
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
    const manualShare = Math.ceil(limit / 2);
    const manual = await this.deliveries.claimManualAttempts(manualShare, leaseMs);
    const due = await this.deliveries.claimDueRetries(limit - manual.length, leaseMs);
    if (manual.length < manualShare || manual.length + due.length === limit) {
      return [...manual, ...due];
    }
    const more = await this.deliveries.claimManualAttempts(
      limit - manual.length - due.length,
      leaseMs,
    );
    return [...manual, ...due, ...more];
  }
}
