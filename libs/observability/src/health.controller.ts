import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { KafkaAdminService } from '@libs/messaging';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly kafka: KafkaAdminService,
  ) {}

  /** The process is up and serving; says nothing about its dependencies. */
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  /** Postgres and Kafka (unless in direct mode) answer: the process can do its work. */
  @Get('ready')
  @HealthCheck()
  ready() {
    const postgres = () => this.database.pingCheck('postgres', { timeout: 2000 });
    if (!this.kafka.used) return this.health.check([postgres]);
    return this.health.check([
      postgres,
      async () => {
        const indicator = this.indicators.check('kafka');
        try {
          await this.kafka.ping();
          return indicator.up();
        } catch (error) {
          return indicator.down({
            message: error instanceof Error ? error.message : String(error),
          });
        }
      },
    ]);
  }
}
