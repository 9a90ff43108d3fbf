import { Get, Query } from '@nestjs/common';
import { ApiForbiddenResponse, ApiOkResponse } from '@nestjs/swagger';
import { AccountScope } from '../auth/account-scope';
import { CurrentScope } from '../auth/current-scope.decorator';
import { V1Controller } from '../auth/v1-controller.decorator';
import { GetStatsOverviewUseCase } from './get-stats-overview.use-case';
import { StatsOverviewQuery } from './stats-overview.query';
import { StatsOverviewResponse } from './stats-overview.response';

@V1Controller('stats')
export class StatsController {
  constructor(private readonly overview: GetStatsOverviewUseCase) {}

  /** Deliveries per minute over the last hour and, for the admin key, the workers' consumer lag. */
  @Get('overview')
  @ApiOkResponse({ type: StatsOverviewResponse })
  @ApiForbiddenResponse({ description: 'An account key asking for another account' })
  getOverview(
    @Query() query: StatsOverviewQuery,
    @CurrentScope() scope: AccountScope,
  ): Promise<StatsOverviewResponse> {
    return this.overview.execute(query.account_id, scope);
  }
}
