import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { DeliveryTransition } from '@libs/persistence';

export const WORKER_METRIC = {
  eventsConsumed: 'webhook_events_consumed_total',
  invalidMessages: 'webhook_invalid_messages_total',
  deferredEvents: 'webhook_events_deferred_total',
  deliveries: 'webhook_deliveries_total',
  attemptDuration: 'webhook_delivery_attempt_duration_seconds',
  endToEndLatency: 'webhook_end_to_end_latency_seconds',
  inflight: 'webhook_inflight_deliveries',
  rateLimited: 'webhook_deliveries_rate_limited_total',
  sentFirst: 'webhook_events_sent_before_stored_total',
} as const;

/** The worker's own counters, behind intent-named methods. */
@Injectable()
export class WorkerMetrics {
  constructor(
    @InjectMetric(WORKER_METRIC.eventsConsumed) private readonly consumed: Counter,
    @InjectMetric(WORKER_METRIC.invalidMessages) private readonly invalid: Counter<'reason'>,
    @InjectMetric(WORKER_METRIC.deferredEvents) private readonly deferred: Counter,
    @InjectMetric(WORKER_METRIC.deliveries) private readonly deliveries: Counter<'outcome'>,
    @InjectMetric(WORKER_METRIC.attemptDuration) private readonly attemptDuration: Histogram,
    @InjectMetric(WORKER_METRIC.endToEndLatency) private readonly endToEnd: Histogram,
    @InjectMetric(WORKER_METRIC.inflight) private readonly inflight: Gauge,
    @InjectMetric(WORKER_METRIC.rateLimited) private readonly limited: Counter,
    @InjectMetric(WORKER_METRIC.sentFirst) private readonly sentFirst: Counter,
  ) {}

  eventConsumed(): void {
    this.consumed.inc();
  }

  /** A message set aside on the dead-letter topic, by reason code. */
  invalidMessage(reason: string): void {
    this.invalid.inc({ reason });
  }

  eventDeferred(): void {
    this.deferred.inc();
  }

  attemptRecorded(
    durationMs: number,
    status: DeliveryTransition['status'],
    occurredAt: Date,
  ): void {
    this.attemptDuration.observe(durationMs / 1000);
    this.deliveries.inc({ outcome: status });
    if (status === 'succeeded') {
      this.endToEnd.observe(Math.max(0, Date.now() - occurredAt.getTime()) / 1000);
    }
  }

  /** A claim given back unsent because its webhook's rate limit was reached. */
  rateLimited(): void {
    this.limited.inc();
  }

  /** An event whose first attempts all went out before it was stored (DELIVERY_SEND_FIRST). */
  eventSentBeforeStored(): void {
    this.sentFirst.inc();
  }

  eventAccepted(): void {
    this.inflight.inc();
  }

  eventFinished(): void {
    this.inflight.dec();
  }
}
