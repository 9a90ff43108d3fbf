import { Injectable } from '@nestjs/common';
import { DeliveryObserver, WebhookResponse } from '@libs/delivery';
import { ClaimedDelivery, DeliveryTransition } from '@libs/persistence';
import { WorkerMetrics } from './worker-metrics';

/** Feeds every recorded attempt into the worker's Prometheus metrics. */
@Injectable()
export class PrometheusDeliveryObserver extends DeliveryObserver {
  constructor(private readonly metrics: WorkerMetrics) {
    super();
  }

  override rateLimited(): void {
    this.metrics.rateLimited();
  }

  override attemptRecorded(
    delivery: ClaimedDelivery,
    response: WebhookResponse,
    transition: DeliveryTransition,
  ): void {
    this.metrics.attemptRecorded(response.durationMs, transition.status, delivery.occurredAt);
  }
}
