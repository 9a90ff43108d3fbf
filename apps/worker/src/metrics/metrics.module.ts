import { Module } from '@nestjs/common';
import {
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';
import { MessagingModule } from '@libs/messaging';
import { PersistenceModule } from '@libs/persistence';
import { PrometheusDeliveryObserver } from './prometheus-delivery.observer';
import { QueueMetricsCollector } from './queue-metrics.collector';
import { WORKER_METRIC, WorkerMetrics } from './worker-metrics';

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

@Module({
  imports: [MessagingModule, PersistenceModule],
  providers: [
    makeCounterProvider({ name: WORKER_METRIC.eventsConsumed, help: 'Kafka messages consumed' }),
    makeCounterProvider({
      name: WORKER_METRIC.invalidMessages,
      help: 'Kafka messages set aside on the dead-letter topic, by reason',
      labelNames: ['reason'],
    }),
    makeCounterProvider({
      name: WORKER_METRIC.deferredEvents,
      help: 'Events whose account lane was full: stored at once, attempted in order by the lane',
    }),
    makeCounterProvider({
      name: WORKER_METRIC.sentFirst,
      help: 'Events whose first attempts went out before they were stored (DELIVERY_SEND_FIRST)',
    }),
    makeCounterProvider({
      name: WORKER_METRIC.deliveries,
      help: 'Delivery attempts by the state they left the delivery in',
      labelNames: ['outcome'],
    }),
    makeHistogramProvider({
      name: WORKER_METRIC.attemptDuration,
      help: 'Duration of one HTTP attempt to a webhook',
      buckets: LATENCY_BUCKETS,
    }),
    makeHistogramProvider({
      name: WORKER_METRIC.endToEndLatency,
      help: 'From the event timestamp to the first successful answer',
      buckets: LATENCY_BUCKETS,
    }),
    makeGaugeProvider({
      name: WORKER_METRIC.inflight,
      help: 'Events accepted by this worker and not finished yet',
    }),
    makeCounterProvider({
      name: WORKER_METRIC.rateLimited,
      help: 'Deliveries put off unsent (no attempt counted) by their webhook rate limit',
    }),
    WorkerMetrics,
    PrometheusDeliveryObserver,
    QueueMetricsCollector,
  ],
  exports: [WorkerMetrics, PrometheusDeliveryObserver],
})
export class MetricsModule {}
