import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@libs/config';
import { KafkaAdminService } from '@libs/messaging';
import { DeliveryStatsRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { hourWindowStart, minuteSeries } from './minute-series';
import { ConsumerLagResponse, StatsOverviewResponse } from './stats-overview.response';

/** A dashboard must not hang on a broker that does not answer: it shows no lag instead. */
const LAG_TIMEOUT_MS = 3_000;

@Injectable()
export class GetStatsOverviewUseCase {
  private readonly logger = new Logger(GetStatsOverviewUseCase.name);

  constructor(
    private readonly stats: DeliveryStatsRepository,
    private readonly kafka: KafkaAdminService,
    private readonly config: AppConfig,
  ) {}

  async execute(
    requestedAccount: string | undefined,
    scope: AccountScope,
  ): Promise<StatsOverviewResponse> {
    const accountId = scope.listFilter(requestedAccount);
    const now = new Date();
    const since = hourWindowStart(now);
    const [counts, lag] = await Promise.all([
      this.stats.perMinute(since, accountId),
      // Direct mode has no consumer group; its backlog is webhook_direct_queue_depth.
      scope.isAdmin && this.kafka.used ? this.consumerLag() : Promise.resolve(null),
    ]);
    return {
      account_id: accountId ?? null,
      since: since.toISOString(),
      deliveries_per_minute: minuteSeries(counts, since, now).map((entry) => ({
        minute: entry.minute.toISOString(),
        created: entry.created,
        succeeded: entry.succeeded,
        failed: entry.failed,
      })),
      consumer_lag: lag,
    };
  }

  private async consumerLag(): Promise<ConsumerLagResponse | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), LAG_TIMEOUT_MS);
    });
    try {
      const partitions = await Promise.race([this.kafka.consumerLag(), timeout]);
      if (partitions === null) {
        this.logger.warn(`Consumer lag: no answer from Kafka within ${LAG_TIMEOUT_MS} ms`);
        return null;
      }
      const entries = partitions.map(({ partition, lag }) => ({ partition, lag: Number(lag) }));
      return {
        group: this.config.kafka.consumerGroup,
        topic: this.config.kafka.topic,
        total: entries.reduce((sum, entry) => sum + entry.lag, 0),
        partitions: entries.sort((a, b) => a.partition - b.partition),
      };
    } catch (error) {
      this.logger.warn(
        `Consumer lag unavailable: ${error instanceof Error ? error.message : error}`,
      );
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}
