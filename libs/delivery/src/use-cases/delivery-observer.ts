import { Injectable } from '@nestjs/common';
import type { ClaimedDelivery, DeliveryTransition } from '@libs/persistence';
import type { WebhookResponse } from '../http/webhook-http-client';

/**
 * Hooks for metrics around attempts. The default does nothing; the worker binds one
 * that feeds Prometheus, so the delivery lib stays free of any metrics library.
 */
@Injectable()
export class DeliveryObserver {
  attemptStarted(): void {}
  attemptFinished(): void {}
  deliveryDiscarded(): void {}
  /** Given back unsent: its webhook's rate limit was reached. */
  rateLimited(_delivery: ClaimedDelivery): void {}
  attemptRecorded(
    _delivery: ClaimedDelivery,
    _response: WebhookResponse,
    _transition: DeliveryTransition,
  ): void {}
}
