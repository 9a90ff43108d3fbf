import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig, ConfigModule } from '@libs/config';
import { HealthModule, LoggingModule, PrometheusMetricsModule } from '@libs/observability';
import { ConsumptionModule } from './consumption/consumption.module';
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
        ConsumptionModule,
        RetriesModule,
        RetentionModule,
      ],
    };
  }
}
