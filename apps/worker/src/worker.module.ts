import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig, ConfigModule } from '@libs/config';
import { DeliveryModule } from '@libs/delivery';
import { HealthModule, LoggingModule, PrometheusMetricsModule } from '@libs/observability';
import { ConsumptionModule } from './consumption/consumption.module';
import { DirectModule } from './direct/direct.module';
import { MetricsModule } from './metrics/metrics.module';
import { PrometheusDeliveryObserver } from './metrics/prometheus-delivery.observer';
import { RetentionModule } from './retention/retention.module';
import { RetriesModule } from './retries/retries.module';

@Module({})
export class WorkerModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        PrometheusMetricsModule,
        HealthModule,
        DeliveryModule.forRoot({ imports: [MetricsModule], observer: PrometheusDeliveryObserver }),
        // A direct-mode worker has no Kafka consumer at all; every worker delivers direct events.
        ...(config.delivery.mode === 'kafka' ? [ConsumptionModule] : []),
        DirectModule,
        RetriesModule,
        RetentionModule,
      ],
    };
  }
}
