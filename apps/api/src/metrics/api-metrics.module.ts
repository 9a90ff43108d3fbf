import { Module } from '@nestjs/common';
import { makeCounterProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import { API_METRIC, ApiMetrics } from './api-metrics';

@Module({
  providers: [
    makeCounterProvider({
      name: API_METRIC.published,
      help: 'Events accepted: acknowledged by Kafka, or committed to Postgres in direct mode',
      labelNames: ['type'],
    }),
    makeCounterProvider({
      name: API_METRIC.publishErrors,
      help: 'Events that could not be written to Kafka (or stored, in direct mode)',
    }),
    makeHistogramProvider({
      name: API_METRIC.requestDuration,
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    }),
    ApiMetrics,
  ],
  exports: [ApiMetrics],
})
export class ApiMetricsModule {}
