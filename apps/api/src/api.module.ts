import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig, ConfigModule } from '@libs/config';
import { HealthModule, LoggingModule, PrometheusMetricsModule } from '@libs/observability';
import { AccountsModule } from './accounts/accounts.module';
import { ConsoleModule } from './console/console.module';
import { DeliveriesModule } from './deliveries/deliveries.module';
import { EventsModule } from './events/events.module';
import { ApiMetricsModule } from './metrics/api-metrics.module';
import { ApiRateLimitModule } from './rate-limits/api-rate-limit.module';
import { StatsModule } from './stats/stats.module';
import { WebhooksModule } from './webhooks/webhooks.module';

@Module({})
export class ApiModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        PrometheusMetricsModule,
        ApiMetricsModule,
        ApiRateLimitModule,
        HealthModule,
        EventsModule.register(config),
        WebhooksModule,
        DeliveriesModule,
        AccountsModule,
        StatsModule,
        ConsoleModule,
      ],
    };
  }
}
