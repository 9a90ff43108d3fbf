import { IsOptional, Matches } from 'class-validator';
import { EXTERNAL_ID_PATTERN } from '@libs/contracts';

export class StatsOverviewQuery {
  /** One account's figures (an account key always gets its own). */
  @IsOptional()
  @Matches(EXTERNAL_ID_PATTERN, { message: 'account_id is not a valid account id' })
  account_id?: string;
}
