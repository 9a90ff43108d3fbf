import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Counter, Histogram } from 'prom-client';

export const API_METRIC = {
  published: 'webhook_events_published_total',
  publishErrors: 'webhook_events_publish_errors_total',
  requestDuration: 'http_request_duration_seconds',
} as const;

@Injectable()
export class ApiMetrics {
  constructor(
    @InjectMetric(API_METRIC.published) private readonly published: Counter<'type'>,
    @InjectMetric(API_METRIC.publishErrors) private readonly publishErrors: Counter,
    @InjectMetric(API_METRIC.requestDuration)
    private readonly requestDuration: Histogram<'method' | 'route' | 'status'>,
  ) {}

  eventPublished(type: string): void {
    this.published.inc({ type });
  }

  publishFailed(): void {
    this.publishErrors.inc();
  }

  requestServed(method: string, route: string, status: number, seconds: number): void {
    this.requestDuration.observe({ method, route, status: String(status) }, seconds);
  }
}
