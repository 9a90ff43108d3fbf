import { IsOptional, Matches } from 'class-validator';
import { EXTERNAL_ID_PATTERN } from '@libs/contracts';

export class GetEventQuery {
  /**
   * The account the event belongs to. Event ids are unique per account only: the admin key
   * names the account when several accounts used the id; an account key needs not.
   */
  @IsOptional()
  @Matches(EXTERNAL_ID_PATTERN, { message: 'account_id is not a valid account id' })
  account_id?: string;
}
