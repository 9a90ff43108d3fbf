import { Module } from '@nestjs/common';
import { MessagingModule } from '@libs/messaging';
import { PersistenceModule } from '@libs/persistence';
import { GetStatsOverviewUseCase } from './get-stats-overview.use-case';
import { StatsController } from './stats.controller';

/** Read-only figures for dashboards such as the delivery console. */
@Module({
  imports: [PersistenceModule, MessagingModule],
  controllers: [StatsController],
  providers: [GetStatsOverviewUseCase],
})
export class StatsModule {}
