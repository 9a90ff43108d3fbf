import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, Min } from 'class-validator';
import { EVENT_TYPE_PATTERN, EXTERNAL_ID_PATTERN, IsRfc3339DateTime } from '@libs/contracts';
import { DELIVERY_STATUSES, DeliveryStatus } from '@libs/persistence';

export class ListDeliveriesQuery {
  @IsOptional()
  @Matches(EXTERNAL_ID_PATTERN, { message: 'account_id is not a valid account id' })
  account_id?: string;

  @IsOptional()
  @IsUUID('all', { message: 'webhook_id must be a UUID' })
  webhook_id?: string;

  @IsOptional()
  @Matches(EXTERNAL_ID_PATTERN, { message: 'event_id is not a valid event id' })
  event_id?: string;

  @IsOptional()
  @Matches(EVENT_TYPE_PATTERN, { message: 'event_type must be dot-separated words' })
  event_type?: string;

  @ApiPropertyOptional({ enum: DELIVERY_STATUSES })
  @IsOptional()
  @IsIn(DELIVERY_STATUSES, { message: `status must be one of ${DELIVERY_STATUSES.join(', ')}` })
  status?: DeliveryStatus;

  /** Deliveries created at or after this time (ISO 8601). */
  @IsOptional()
  @IsRfc3339DateTime()
  since?: string;

  /** Deliveries created before this time (ISO 8601). */
  @IsOptional()
  @IsRfc3339DateTime()
  until?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be a whole number' })
  @Min(1, { message: 'limit must be at least 1' })
  @Max(100, { message: 'limit must be at most 100' })
  limit?: number;

  /** `next_cursor` of the previous page. */
  @IsOptional()
  @IsString()
  cursor?: string;
}
