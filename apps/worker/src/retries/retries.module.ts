import { Module } from '@nestjs/common';
import { DeliveryModule } from '@libs/delivery';
import { MetricsModule } from '../metrics/metrics.module';
import { PrometheusDeliveryObserver } from '../metrics/prometheus-delivery.observer';
import { DueRetryScheduler } from './due-retry.scheduler';

@Module({
  imports: [
    DeliveryModule.forRoot({ imports: [MetricsModule], observer: PrometheusDeliveryObserver }),
  ],
  providers: [DueRetryScheduler],
})
export class RetriesModule {}
