import { Module } from '@nestjs/common';
import { DeliveryModule } from '@libs/delivery';
import { MetricsModule } from '../metrics/metrics.module';
import { PrometheusDeliveryObserver } from '../metrics/prometheus-delivery.observer';
import { EventDispatcher } from './event-dispatcher';
import { EventsConsumer } from './events.consumer';

@Module({
  imports: [
    DeliveryModule.forRoot({ imports: [MetricsModule], observer: PrometheusDeliveryObserver }),
    MetricsModule,
  ],
  controllers: [EventsConsumer],
  providers: [EventDispatcher],
})
export class ConsumptionModule {}
